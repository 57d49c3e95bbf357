/*
 * log.h - the daemon's event log: one line per event on stderr, with a level.
 *
 * A line is logfmt: "level=LEVEL msg=MESSAGE [key=value ...] ts=2026-01-31T12:00:00.123Z".
 * Lines below the threshold set by sp_log_set_level() (`stampede serve --log-level`) are
 * dropped. When stderr goes to the systemd journal (JOURNAL_STREAM is set, which systemd does
 * for a unit's stdout/stderr), the journal keeps its own timestamps, so the ts field is left
 * out and the line starts with a "<N>" syslog priority prefix instead, which journald turns
 * into the entry's priority (`journalctl -p warning` then works).
 *
 * Threads: sp_log() and sp_log_kv() may be called from any thread; each line is written with
 * one fwrite(), so lines from different threads do not interleave. sp_log_set_level() and
 * sp_log_init() are for the main thread before other threads start.
 */
#ifndef SP_LOG_H
#define SP_LOG_H

#include <stdarg.h>

typedef enum sp_log_level {
    SP_LOG_DEBUG = 0,
    SP_LOG_INFO = 1,
    SP_LOG_WARN = 2,
    SP_LOG_ERROR = 3,
} sp_log_level;

/* Reads the environment (JOURNAL_STREAM) once. Safe to call again. */
void sp_log_init(void);
/* Lines below level are dropped (default SP_LOG_INFO). */
void sp_log_set_level(sp_log_level level);
/* Whether a line at level would be written. */
int sp_log_enabled(sp_log_level level);
/* "debug", "info", "warn" (or "warning"), "error" -> 0 and *out; else SP_EINVAL. */
int sp_log_level_parse(const char *name, sp_log_level *out);
const char *sp_log_level_name(sp_log_level level);

/* One event: msg is a printf format; the formatted text is the line's msg field (quoted and
 * escaped as needed, cut at SP_HTTP_MAX_LOG_VALUE bytes). */
void sp_log(sp_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One event with fields: pairs of strings (key, value, ..., NULL) after msg; a NULL value is
 * written as "-". Values are escaped so that none can forge a line. Keys are trusted (they
 * come from the code). */
void sp_log_kv(sp_log_level level, const char *msg, ...) __attribute__((sentinel));
void sp_log_kvv(sp_log_level level, const char *msg, va_list ap);

#endif
