/* Logging to stderr with a small formatter of our own: no malloc, no stdio,
 * no locks, so it is safe before init, in fault paths and in signal handlers.
 * Formats: %s %c %d %u %x %p %% with the l, ll, z length modifiers, a width
 * and '-' for left alignment. */
#ifndef SHUNT_LOG_H
#define SHUNT_LOG_H

#include <stdarg.h>
#include <stddef.h>

enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

extern int log_level_current;

size_t log_vformat(char *buf, size_t cap, const char *fmt, va_list ap);
size_t log_format(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void log_emit(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Never returns: prints "shunt: fatal: ..." and exits with status 127. */
void log_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#define log_error(...) log_emit(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  do { if (log_level_current >= LOG_WARN) log_emit(LOG_WARN, __VA_ARGS__); } while (0)
#define log_info(...)  do { if (log_level_current >= LOG_INFO) log_emit(LOG_INFO, __VA_ARGS__); } while (0)
#define log_debug(...) do { if (__builtin_expect(log_level_current >= LOG_DEBUG, 0)) log_emit(LOG_DEBUG, __VA_ARGS__); } while (0)

#endif
