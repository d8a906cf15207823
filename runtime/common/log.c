/* The log writer and its formatter (see log.h). Called from anywhere,
 * including fault paths and signal handlers: it only formats into a stack
 * buffer and issues one raw write(2). */
#include "log.h"
#include "sys.h"

#include <stdint.h>

int log_level_current = LOG_WARN;

static size_t put_num(char *buf, size_t pos, size_t cap, unsigned long long v, unsigned base, int neg)
{
	char tmp[24];
	int n = 0;
	do {
		tmp[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	if (neg && pos < cap)
		buf[pos++] = '-';
	while (n && pos < cap)
		buf[pos++] = tmp[--n];
	return pos;
}

static size_t pad_to(char *buf, size_t pos, size_t cap, size_t start, int width, int left)
{
	size_t len = pos - start;
	if (width <= 0 || len >= (size_t)width)
		return pos;
	size_t pad = (size_t)width - len;
	if (pos + pad > cap)
		pad = cap - pos;
	if (left) {
		for (size_t i = 0; i < pad; i++)
			buf[pos++] = ' ';
	} else {
		for (size_t i = len; i-- > 0;)
			buf[start + pad + i] = buf[start + i];
		for (size_t i = 0; i < pad; i++)
			buf[start + i] = ' ';
		pos += pad;
	}
	return pos;
}

size_t log_vformat(char *buf, size_t cap, const char *fmt, va_list ap)
{
	size_t pos = 0;
	if (!cap)
		return 0;
	cap--; /* room for the NUL */
	for (const char *f = fmt; *f && pos < cap; f++) {
		if (*f != '%') {
			buf[pos++] = *f;
			continue;
		}
		f++;
		int left = 0, width = 0, lng = 0;
		if (*f == '-') {
			left = 1;
			f++;
		}
		while (*f >= '0' && *f <= '9')
			width = width * 10 + (*f++ - '0');
		while (*f == 'l' || *f == 'z') {
			lng++;
			f++;
		}
		size_t start = pos;
		switch (*f) {
		case 's': {
			const char *s = va_arg(ap, const char *);
			if (!s)
				s = "(null)";
			while (*s && pos < cap)
				buf[pos++] = *s++;
			break;
		}
		case 'c':
			buf[pos++] = (char)va_arg(ap, int);
			break;
		case 'd': {
			long long v = lng ? va_arg(ap, long long) : va_arg(ap, int);
			pos = put_num(buf, pos, cap, v < 0 ? -(unsigned long long)v : (unsigned long long)v, 10, v < 0);
			break;
		}
		case 'u':
		case 'x': {
			unsigned long long v = lng ? va_arg(ap, unsigned long long) : va_arg(ap, unsigned);
			pos = put_num(buf, pos, cap, v, *f == 'x' ? 16 : 10, 0);
			break;
		}
		case 'p':
			if (pos + 2 <= cap) {
				buf[pos++] = '0';
				buf[pos++] = 'x';
			}
			pos = put_num(buf, pos, cap, (uintptr_t)va_arg(ap, void *), 16, 0);
			break;
		case '%':
			buf[pos++] = '%';
			break;
		default:
			if (!*f)
				f--;
			break;
		}
		pos = pad_to(buf, pos, cap, start, width, left);
	}
	buf[pos] = 0;
	return pos;
}

size_t log_format(char *buf, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	size_t n = log_vformat(buf, cap, fmt, ap);
	va_end(ap);
	return n;
}

static void log_write_line(const char *prefix, const char *fmt, va_list ap)
{
	char buf[1024];
	size_t n = log_format(buf, sizeof(buf), "shunt[%d]: %s", (int)sys_getpid(), prefix);
	n += log_vformat(buf + n, sizeof(buf) - n - 1, fmt, ap);
	buf[n++] = '\n';
	for (size_t off = 0; off < n;) {
		long w = sys_write(2, buf + off, n - off);
		if (w <= 0)
			break;
		off += (size_t)w;
	}
}

void log_emit(int level, const char *fmt, ...)
{
	static const char *const prefix[] = { "error: ", "warning: ", "", "debug: " };
	va_list ap;
	va_start(ap, fmt);
	log_write_line(prefix[level & 3], fmt, ap);
	va_end(ap);
}

void log_die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_write_line("fatal: ", fmt, ap);
	va_end(ap);
	sys_call(SYS_exit_group, 127, 0, 0, 0, 0, 0);
	__builtin_unreachable();
}
