/* Parses SHUNT_CONF and SHUNT_<KEY> into `cfg`. Runs in the preload
 * constructor before the runtime is up: no malloc, no stdio, no locale. */
#include "config.h"
#include "log.h"

#include <errno.h>
#include <string.h>

struct shunt_config cfg;

enum config_type { T_STR, T_SIZE, T_UINT, T_BOOL, T_ENUM };
#define STR  T_STR
#define SIZE T_SIZE
#define UINT T_UINT
#define BOOL T_BOOL
#define ENUM T_ENUM

struct config_key {
	const char *name;
	enum config_type type;
	const char *def; /* for ENUM: "first|second|...", the first is the default */
	size_t off;
};

static const struct config_key keys[] = {
#define CONFIG_ROW(n, t, d, doc) { #n, t, d, offsetof(struct shunt_config, n) },
	SHUNT_CONFIG_KEYS(CONFIG_ROW)
#undef CONFIG_ROW
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static struct config_value *value_of(const struct config_key *k)
{
	return (struct config_value *)((char *)&cfg + k->off);
}

int config_parse_size(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	size_t i = 0;
	if (!n)
		return -EINVAL;
	for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
		if (v > (UINT64_MAX - 9) / 10)
			return -EINVAL;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (!i)
		return -EINVAL;
	unsigned shift = 0;
	if (i < n) {
		switch (s[i] | 0x20) {
		case 'k': shift = 10; break;
		case 'm': shift = 20; break;
		case 'g': shift = 30; break;
		case 't': shift = 40; break;
		case 'b': shift = 0; break;
		default: return -EINVAL;
		}
		i++;
		if (i < n && (s[i] | 0x20) == 'b' && shift)
			i++; /* "512MB" */
	}
	if (i != n || (shift && v > (UINT64_MAX >> shift)))
		return -EINVAL;
	*out = v << shift;
	return 0;
}

static int parse_value(const struct config_key *k, const char *v, size_t n, struct config_value *out)
{
	if (n >= sizeof(out->str))
		return -EINVAL;
	switch (k->type) {
	case T_STR:
		out->num = n;
		break;
	case T_SIZE:
		if (config_parse_size(v, n, &out->num))
			return -EINVAL;
		break;
	case T_UINT: {
		uint64_t x = 0;
		if (!n)
			return -EINVAL;
		for (size_t i = 0; i < n; i++) {
			if (v[i] < '0' || v[i] > '9' || x > UINT64_MAX / 10 - 1)
				return -EINVAL;
			x = x * 10 + (uint64_t)(v[i] - '0');
		}
		out->num = x;
		break;
	}
	case T_BOOL:
		if ((n == 1 && v[0] == '1') || (n == 2 && !memcmp(v, "on", 2)) || (n == 4 && !memcmp(v, "true", 4)) ||
		    (n == 3 && !memcmp(v, "yes", 3)))
			out->num = 1;
		else if ((n == 1 && v[0] == '0') || (n == 3 && !memcmp(v, "off", 3)) ||
			 (n == 5 && !memcmp(v, "false", 5)) || (n == 2 && !memcmp(v, "no", 2)))
			out->num = 0;
		else
			return -EINVAL;
		break;
	case T_ENUM: {
		uint64_t idx = 0;
		const char *c = k->def;
		for (;;) {
			const char *bar = strchr(c, '|');
			size_t len = bar ? (size_t)(bar - c) : strlen(c);
			if (len == n && !memcmp(c, v, n))
				break;
			if (!bar)
				return -EINVAL;
			c = bar + 1;
			idx++;
		}
		out->num = idx;
		break;
	}
	}
	memcpy(out->str, v, n);
	out->str[n] = 0;
	return 0;
}

void config_reset(void)
{
	for (size_t i = 0; i < NKEYS; i++) {
		const struct config_key *k = &keys[i];
		struct config_value *cv = value_of(k);
		const char *d = k->def;
		size_t n = k->type == T_ENUM ? strcspn(d, "|") : strlen(d);
		memset(cv, 0, sizeof(*cv));
		parse_value(k, d, n, cv);
	}
}

int config_set(const char *key, size_t keylen, const char *val, size_t vallen, char *err, size_t errlen)
{
	for (size_t i = 0; i < NKEYS; i++) {
		const struct config_key *k = &keys[i];
		if (strlen(k->name) != keylen || memcmp(k->name, key, keylen))
			continue;
		struct config_value tmp;
		memset(&tmp, 0, sizeof(tmp));
		if (parse_value(k, val, vallen, &tmp)) {
			char v[128];
			size_t m = vallen < sizeof(v) - 1 ? vallen : sizeof(v) - 1;
			memcpy(v, val, m);
			v[m] = 0;
			if (k->type == T_ENUM)
				log_format(err, errlen, "bad value '%s' for configuration key '%s' (one of %s)", v, k->name, k->def);
			else
				log_format(err, errlen, "bad value '%s' for configuration key '%s'", v, k->name);
			return -EINVAL;
		}
		tmp.set = 1;
		*value_of(k) = tmp;
		return 0;
	}
	char kb[128];
	size_t m = keylen < sizeof(kb) - 1 ? keylen : sizeof(kb) - 1;
	memcpy(kb, key, m);
	kb[m] = 0;
	log_format(err, errlen, "unknown configuration key '%s'", kb);
	return -EINVAL;
}

int config_apply_conf(const char *conf, char *err, size_t errlen)
{
	const char *p = conf;
	while (*p) {
		size_t len = strcspn(p, ",");
		if (len) {
			const char *colon = memchr(p, ':', len);
			if (!colon) {
				char kb[128];
				size_t m = len < sizeof(kb) - 1 ? len : sizeof(kb) - 1;
				memcpy(kb, p, m);
				kb[m] = 0;
				log_format(err, errlen, "SHUNT_CONF entry '%s' has no ':value'", kb);
				return -EINVAL;
			}
			int r = config_set(p, (size_t)(colon - p), colon + 1, len - (size_t)(colon - p) - 1, err, errlen);
			if (r)
				return r;
		}
		p += len;
		if (*p == ',')
			p++;
	}
	return 0;
}

/* SHUNT_ variables that are not configuration keys but are ours all the same. */
static int is_reserved_env(const char *name, size_t n)
{
	static const char *const names[] = { "CONF" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i]) == n && !memcmp(names[i], name, n))
			return 1;
	return 0;
}

int config_load(char *const *envp, char *err, size_t errlen)
{
	config_reset();
	if (!envp)
		return 0;
	for (char *const *e = envp; *e; e++)
		if (!strncmp(*e, "SHUNT_CONF=", 11)) {
			int r = config_apply_conf(*e + 11, err, errlen);
			if (r)
				return r;
		}
	for (char *const *e = envp; *e; e++) {
		const char *s = *e;
		if (strncmp(s, "SHUNT_", 6))
			continue;
		const char *eq = strchr(s, '=');
		if (!eq)
			continue;
		const char *name = s + 6;
		size_t n = (size_t)(eq - name);
		if (is_reserved_env(name, n) || (n > 9 && !memcmp(name, "INTERNAL_", 9)))
			continue;
		char lower[64];
		if (n >= sizeof(lower)) {
			log_format(err, errlen, "unknown configuration variable '%s'", s);
			return -EINVAL;
		}
		for (size_t i = 0; i < n; i++)
			lower[i] = (name[i] >= 'A' && name[i] <= 'Z') ? (char)(name[i] + 32) : name[i];
		int r = config_set(lower, n, eq + 1, strlen(eq + 1), err, errlen);
		if (r) {
			if (!strncmp(err, "unknown", 7)) {
				char orig[64];
				memcpy(orig, name, n);
				orig[n] = 0;
				log_format(err, errlen, "unknown configuration variable 'SHUNT_%s'", orig);
			}
			return r;
		}
	}
	return 0;
}
