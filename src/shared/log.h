/* Logging: one line per record, "time=… level=… component=… msg="…" key=value…" on stderr,
 * prefixed with "<N>" instead of the time when stderr is a journald stream.
 *
 * Usage: log_info("peer added", "peer=%s endpoint=%s", id, ep);  log_info("started");
 *        return log_error_errno(r, "cannot open socket", "path=%s err=%m", path);
 * The message is constant text; the optional second argument is a printf format of fields.
 * The _errno variants set errno so that %m works and return -abs(error). */
#pragma once

#include <stdarg.h>
#include <syslog.h>

#include "shared/macro.h"

#ifndef LOG_COMPONENT
#define LOG_COMPONENT "plexd"
#endif

void log_set_max_level(int level);
int log_get_max_level(void);
/* "debug", "info", "warn"/"warning", "notice", "error" → syslog level; -EINVAL otherwise. */
int log_level_from_string(const char *s);
const char *log_level_to_string(int level);
/* Decides once whether stderr is connected to journald (JOURNAL_STREAM matches). */
void log_open(void);
/* Redirect output (tests); NULL restores stderr. */
void log_set_sink(void (*sink)(int level, const char *line, void *userdata), void *userdata);

/* The macros below pass fields as " " + format: an empty format would trip
 * -Wformat-zero-length for records without fields. One leading space is skipped. */
int log_internal(int level, int error, const char *component, const char *msg, const char *fields,
		 ...) _printf_(5, 6);

#define log_full_errno(level, error, msg, ...)                                                     \
	({                                                                                         \
		int _l_ = (level), _e_ = (error);                                                  \
		(_l_ <= log_get_max_level())                                                       \
			? log_internal(_l_, _e_, LOG_COMPONENT, msg, " " __VA_ARGS__)              \
			: -(_e_ < 0 ? -_e_ : _e_);                                                 \
	})

#define log_debug(msg, ...) (void)log_full_errno(LOG_DEBUG, 0, msg, ##__VA_ARGS__)
#define log_info(msg, ...) (void)log_full_errno(LOG_INFO, 0, msg, ##__VA_ARGS__)
#define log_notice(msg, ...) (void)log_full_errno(LOG_NOTICE, 0, msg, ##__VA_ARGS__)
#define log_warning(msg, ...) (void)log_full_errno(LOG_WARNING, 0, msg, ##__VA_ARGS__)
#define log_error(msg, ...) (void)log_full_errno(LOG_ERR, 0, msg, ##__VA_ARGS__)

#define log_debug_errno(e, msg, ...) log_full_errno(LOG_DEBUG, e, msg, ##__VA_ARGS__)
#define log_info_errno(e, msg, ...) log_full_errno(LOG_INFO, e, msg, ##__VA_ARGS__)
#define log_notice_errno(e, msg, ...) log_full_errno(LOG_NOTICE, e, msg, ##__VA_ARGS__)
#define log_warning_errno(e, msg, ...) log_full_errno(LOG_WARNING, e, msg, ##__VA_ARGS__)
#define log_error_errno(e, msg, ...) log_full_errno(LOG_ERR, e, msg, ##__VA_ARGS__)

#define log_oom() log_error_errno(-ENOMEM, "out of memory")
