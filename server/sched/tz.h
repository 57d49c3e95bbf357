/*
 * tz.h - time zones of the tz database, read by this module from the zoneinfo files
 * (SP_TZ_DIR, Debian's package tzdata) without the C library's time zone state.
 *
 * Why not localtime_r(): the C library knows one zone per process, chosen by the environment
 * variable TZ, and setenv() is not thread-safe (another thread's getenv, a log line's time, may
 * read it while it changes). Schedules each have their own zone, so this module reads the
 * TZif file (RFC 8536) itself: its transition table and its footer, a POSIX TZ rule
 * ("CET-1CEST,M3.5.0,M10.5.0/3") that says what happens after the table's last transition.
 * A loaded zone is immutable: any thread may use it.
 *
 * Times are seconds since 1970-01-01 UTC ("instants"); a "local" time is the same count for
 * the wall clock of the zone, as if that clock were UTC (local = instant + offset).
 *
 * Calling sequence:
 *     sp_tz_load("Europe/Berlin", &z, err, n);   reads SP_TZ_DIR/Europe/Berlin
 *     sp_tz_offset(z, t, &until) ...             the UTC offset at an instant
 *     sp_tz_resolve(z, local, at, &gap_end) ...  the instants a wall-clock time names
 *     sp_tz_free(z);
 *
 * Errors: 0 or a negative SP_E* code with a one-line reason in err: SP_EINVAL for a name that
 * is not a zone name or a file that is not a zone, SP_ENOTFOUND for a zone the database does
 * not have, SP_ELIMIT for a file beyond SP_TZ_MAX_FILE.
 */
#ifndef SP_SCHED_TZ_H
#define SP_SCHED_TZ_H

#include <stddef.h>
#include <stdint.h>

#include "engine/common.h"

/* Where the zone files are (Debian's tzdata; packaging/deps.sh installs it). */
#define SP_TZ_DIR "/usr/share/zoneinfo"

typedef struct sp_tz sp_tz;

/*
 * Whether name is written as a zone name: "UTC", "Europe/Berlin", "America/Argentina/Salta",
 * "Etc/GMT+5": at most SP_TZ_MAX_NAME bytes of parts separated by '/', each of letters, digits,
 * '_', '-' and '+' and neither "." nor ".." (so that it never leaves SP_TZ_DIR), not starting
 * with '/' or "right/" (zones counting leap seconds, which no clock here does). 0 or SP_EINVAL
 * with the reason in err. Pure.
 */
int sp_tz_name_check(const char *name, char *err, size_t errlen);

/* Reads zone name from SP_TZ_DIR. On success *out is the caller's (sp_tz_free). */
int sp_tz_load(const char *name, sp_tz **out, char *err, size_t errlen);

/* The same from the bytes of a TZif file (data, len), named name: for tests and the fuzz
 * target. Every count, index and offset in the file is checked before use. */
int sp_tz_parse(const char *name, const void *data, size_t len, sp_tz **out, char *err,
                size_t errlen);

/* A zone made from a POSIX TZ rule alone ("EST5EDT,M3.2.0,M11.1.0", "<+1030>-10:30<+11>-11,
 * M10.1.0,M4.1.0"), as a TZif footer holds it. */
int sp_tz_from_rule(const char *rule, sp_tz **out, char *err, size_t errlen);

void sp_tz_free(sp_tz *z);

/* The zone's name as loaded (borrowed). */
const char *sp_tz_name(const sp_tz *z);

/*
 * The offset from UTC in seconds east (Berlin in winter: 3600) at instant t. *until (may be
 * NULL) gets the first instant after t at which the offset changes (a change of name or of
 * the daylight-saving flag alone is no change), INT64_MAX when it never does.
 */
int32_t sp_tz_offset(const sp_tz *z, int64_t t, int64_t *until);

/*
 * The instants at which the zone's clock shows local time: returns how many, 0, 1 or 2, in
 * at[] in increasing order. 2: local falls in an hour that the clock repeats when it is set
 * back. 0: local falls in a gap that the clock skips when it is set forward; *gap_end (may be
 * NULL) then gets the instant the gap ends, which is the first instant after it.
 */
int sp_tz_resolve(const sp_tz *z, int64_t local, int64_t at[2], int64_t *gap_end);

/* The smallest and largest offset the zone ever uses (for searches that walk local times). */
void sp_tz_range(const sp_tz *z, int32_t *lo, int32_t *hi);

/* ---- Civil calendar (proleptic Gregorian), for the zone and its callers ---- */

/* Days since 1970-01-01 of year-month-day (month 1..12, day 1..31; no range check). */
int64_t sp_tz_days_from_civil(int64_t y, unsigned m, unsigned d);
/* The reverse. */
void sp_tz_civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d);
/* 1 for a leap year. */
int sp_tz_leap(int64_t y);
/* Days in month m (1..12) of year y. */
unsigned sp_tz_month_days(int64_t y, unsigned m);

#endif
