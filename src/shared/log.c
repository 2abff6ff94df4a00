/* Implementation of the logging API: formatting into one bounded line and a single write(2),
 * so concurrent records from child processes never interleave mid-line. */
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include "shared/log.h"

static int max_level = LOG_INFO;
static int journal_stream = -1; /* -1 unknown, 0 no, 1 yes */
static void (*log_sink)(int, const char *, void *);
static void *log_sink_userdata;

static const char *const level_names[] = {
	[LOG_EMERG] = "error", [LOG_ALERT] = "error", [LOG_CRIT] = "error",  [LOG_ERR] = "error",
	[LOG_WARNING] = "warn", [LOG_NOTICE] = "notice", [LOG_INFO] = "info", [LOG_DEBUG] = "debug",
};

void log_set_max_level(int level)
{
	max_level = CLAMP(level, LOG_EMERG, LOG_DEBUG);
}

int log_get_max_level(void)
{
	return max_level;
}

int log_level_from_string(const char *s)
{
	static const struct {
		const char *name;
		int level;
	} map[] = {
		{ "debug", LOG_DEBUG },	    { "info", LOG_INFO }, { "notice", LOG_NOTICE },
		{ "warn", LOG_WARNING },    { "warning", LOG_WARNING }, { "error", LOG_ERR },
	};
	if (!s)
		return -EINVAL;
	for (size_t i = 0; i < ELEMENTSOF(map); i++)
		if (streq(map[i].name, s))
			return map[i].level;
	return -EINVAL;
}

const char *log_level_to_string(int level)
{
	if (level < 0 || level >= (int)ELEMENTSOF(level_names))
		return "unknown";
	return level_names[level];
}

void log_open(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long dev, ino;
	struct stat st;

	journal_stream = 0;
	if (!e || sscanf(e, "%lu:%lu", &dev, &ino) != 2)
		return;
	if (fstat(STDERR_FILENO, &st) < 0)
		return;
	journal_stream = (st.st_dev == dev && st.st_ino == ino);
}

void log_set_sink(void (*sink)(int, const char *, void *), void *userdata)
{
	log_sink = sink;
	log_sink_userdata = userdata;
}

/* Appends msg as a double-quoted logfmt value, escaping quotes, backslashes and controls. */
static size_t append_quoted(char *buf, size_t pos, size_t size, const char *msg)
{
	if (pos + 1 < size)
		buf[pos++] = '"';
	for (const char *p = msg; *p && pos + 3 < size; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '"' || c == '\\') {
			buf[pos++] = '\\';
			buf[pos++] = (char)c;
		} else if (c < 0x20) {
			buf[pos++] = ' ';
		} else
			buf[pos++] = (char)c;
	}
	if (pos + 1 < size)
		buf[pos++] = '"';
	buf[pos] = '\0';
	return pos;
}

int log_internal(int level, int error, const char *component, const char *msg, const char *fields,
		 ...)
{
	char buf[4096];
	size_t pos = 0;
	int saved_errno = errno;
	int n;

	if (error < 0)
		error = -error;
	if (journal_stream < 0)
		log_open();

	if (journal_stream > 0 && !log_sink) {
		n = snprintf(buf, sizeof buf, "<%d>", level);
	} else {
		struct timespec ts;
		struct tm tm;
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		n = snprintf(buf, sizeof buf, "time=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ ",
			     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			     tm.tm_sec, ts.tv_nsec / 1000000);
	}
	pos = (size_t)MAX(n, 0);
	n = snprintf(buf + pos, sizeof buf - pos, "level=%s component=%s msg=",
		     log_level_to_string(level), component);
	pos += (size_t)MAX(n, 0);
	pos = append_quoted(buf, MIN(pos, sizeof buf - 1), sizeof buf, msg);

	if (fields && *fields == ' ')
		fields++;
	if (fields && *fields && pos + 2 < sizeof buf) {
		va_list ap;
		buf[pos++] = ' ';
		errno = error ? error : saved_errno;
		va_start(ap, fields);
		n = vsnprintf(buf + pos, sizeof buf - pos, fields, ap);
		va_end(ap);
		pos = n < 0 ? pos : MIN(pos + (size_t)n, sizeof buf - 2);
	}
	/* Control characters from fields would break the one-record-per-line contract. */
	for (size_t i = 0; i < pos; i++)
		if ((unsigned char)buf[i] < 0x20)
			buf[i] = ' ';
	buf[pos] = '\0';

	if (log_sink)
		log_sink(level, buf, log_sink_userdata);
	else {
		buf[pos++] = '\n';
		(void)!write(STDERR_FILENO, buf, pos);
	}
	errno = saved_errno;
	return -error;
}
