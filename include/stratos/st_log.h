/* Logging: levels, UTC timestamps with milliseconds, a module tag, and
 * either a text line or one JSON object per line. Logs go to stderr. */
#ifndef STRATOS_ST_LOG_H
#define STRATOS_ST_LOG_H

#include <stdbool.h>

enum st_log_level {
  ST_LOG_DEBUG = 0,
  ST_LOG_INFO = 1,
  ST_LOG_WARN = 2,
  ST_LOG_ERROR = 3,
  ST_LOG_OFF = 4
};

/* Sets the lowest level that is written (default ST_LOG_INFO). */
void st_log_set_level(int level);
int st_log_get_level(void);

/* Parses "debug", "info", "warn", "error" or "off". Returns 0 or ST_EINVAL. */
int st_log_parse_level(const char *s, int *level);

/* Switches between text lines (false, the default) and JSON lines (true). */
void st_log_set_json(bool json);

/* Redirects output to fd (default 2). The fd is borrowed, not closed. */
void st_log_set_fd(int fd);

/* Writes one record. module is a short tag such as "rpc". Thread-safe:
 * each record is written with one write(2). */
void st_log(int level, const char *module, const char *fmt, ...)
  __attribute__((format(printf, 3, 4)));

#define ST_DEBUG(mod, ...) st_log(ST_LOG_DEBUG, (mod), __VA_ARGS__)
#define ST_INFO(mod, ...) st_log(ST_LOG_INFO, (mod), __VA_ARGS__)
#define ST_WARN(mod, ...) st_log(ST_LOG_WARN, (mod), __VA_ARGS__)
#define ST_ERROR(mod, ...) st_log(ST_LOG_ERROR, (mod), __VA_ARGS__)

#endif
