/*
 * cron.h - 5-field cron expressions and their fire times in a time zone (docs/api-schedules.md).
 *
 * An expression is "MINUTE HOUR DAY-OF-MONTH MONTH DAY-OF-WEEK" (fields separated by spaces or
 * tabs), each field a comma-separated list of items:
 *     *            every value                       N         one value
 *     N-M          a range (not backwards)
 *     any of *, N-M or N followed by /S: every S-th value of the field, of the range, or from
 *     N to the field's end ("0-30/10" is 0, 10, 20, 30)
 * Months may be named JAN..DEC and days of the week SUN..SAT (any case); day of week 0 and 7
 * are Sunday. When both day fields are restricted (neither starts with '*'), a day matches
 * when either does, as in Vixie cron ("0 2 1 * MON": the 1st of every month and every Monday).
 * The macros @yearly (@annually), @monthly, @weekly, @daily (@midnight) and @hourly stand for
 * their usual expressions. Nothing else is accepted (L, W, #, ?, seconds, years): an
 * expression that a reader could take two ways is refused, naming the field and why.
 *
 * Fire times are wall-clock times of the schedule's zone (tz.h). Daylight-saving changes
 * neither skip nor double a run:
 *   - When the clock is set forward, a fire time inside the skipped hour fires once, at the
 *     first instant after it (02:30 on the day Berlin goes from 02:00 to 03:00 fires at 03:00
 *     CEST); several such fire times, and one at the hour's end itself, are that one fire.
 *   - When the clock is set back, a fire time inside the repeated hour fires once, at its
 *     first occurrence (02:30 CEST, not 02:30 CET again).
 *   - An expression whose hour field covers every hour ("0,30 * * * *", "0 * * * *") follows
 *     the clock instead: it fires in both passes of a repeated hour and not at all in a skipped
 *     one, so its runs stay evenly spaced in real time.
 *
 * Threads: everything here is pure: an sp_cron is a value, any thread may use it.
 */
#ifndef SP_SCHED_CRON_H
#define SP_SCHED_CRON_H

#include <stddef.h>
#include <stdint.h>

#include "engine/common.h"
#include "sched/tz.h"

typedef struct sp_cron {
    uint64_t minutes; /* bit m: minute m (0..59) */
    uint32_t hours;   /* bit h: hour h (0..23) */
    uint32_t mdays;   /* bit d: day of month d (1..31) */
    uint16_t months;  /* bit m: month m (1..12) */
    uint8_t wdays;    /* bit d: day of week d (0..6, 0 is Sunday) */
    uint8_t dom_any;  /* the day-of-month field starts with '*' */
    uint8_t dow_any;  /* the day-of-week field starts with '*' */
} sp_cron;

/* Why an expression was refused: the field ("minute", "hour", "day of month", "month", "day of
 * week", or "" for the whole expression) and the reason. */
typedef struct sp_cron_error {
    const char *field; /* static */
    char msg[160];
} sp_cron_error;

/*
 * Parses text (at most SP_SCHED_CRON_MAX bytes, NUL-terminated) into *out. Returns 0, or
 * SP_EINVAL with e filled: "hour: '25' is out of range 0-23", "expected 5 fields (minute hour
 * day-of-month month day-of-week), found 6". The fuzz target fuzz_cron drives it.
 */
int sp_cron_parse(const char *text, sp_cron *out, sp_cron_error *e);

/*
 * The first fire time after instant after (seconds since the epoch) in zone z, by the rules at
 * the top of this file: 0 and *next, or SP_ENOTFOUND when the expression does not fire within
 * SP_SCHED_HORIZON_DAYS ("0 0 30 2 *").
 */
int sp_cron_next(const sp_cron *c, const sp_tz *z, int64_t after, int64_t *next);

/* Whether the hour field covers every hour (the schedule follows the clock through
 * daylight-saving changes, see the top). */
int sp_cron_every_hour(const sp_cron *c);

#endif
