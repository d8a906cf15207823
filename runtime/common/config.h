/* The parsed configuration (keys in include/shunt/config.h). Parsing uses no
 * malloc, so it runs in the preload constructor before anything else.
 * Returns 0 or -EINVAL with a message naming the key in err. */
#ifndef SHUNT_RT_CONFIG_H
#define SHUNT_RT_CONFIG_H

#include <stdint.h>
#include <stddef.h>
#include "shunt/config.h"

struct config_value {
	char str[256];   /* the text as given (or the default) */
	uint64_t num;    /* SIZE/UINT/BOOL value, or ENUM index into the choices */
	int set;         /* given by the user rather than defaulted */
};

struct shunt_config {
#define CONFIG_FIELD(name, type, def, doc) struct config_value name;
	SHUNT_CONFIG_KEYS(CONFIG_FIELD)
#undef CONFIG_FIELD
};

extern struct shunt_config cfg;

/* Reset to defaults, then apply SHUNT_CONF and SHUNT_<KEY> from envp. */
int config_load(char *const *envp, char *err, size_t errlen);
/* Apply one "key:value,key:value" string on top of the current values. */
int config_apply_conf(const char *conf, char *err, size_t errlen);
/* Apply one key (lower-case name) with a value. */
int config_set(const char *key, size_t keylen, const char *val, size_t vallen, char *err, size_t errlen);
void config_reset(void);
/* Parse "512M"-style sizes; 0 or -EINVAL. */
int config_parse_size(const char *s, size_t n, uint64_t *out);

#endif
