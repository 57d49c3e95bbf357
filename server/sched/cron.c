/*
 * cron.c - see cron.h.
 */
#include "sched/cron.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "engine/banned.h"

typedef struct field_spec {
    const char *name;
    int min, max;
    const char *const *names; /* names for min, min+1, ... or NULL */
} field_spec;

static const char *const month_names[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                          "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
static const char *const day_names[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

/* Day of week runs to 7 (Sunday again), folded into 0 once parsed. */
static const field_spec fields[5] = {
    {"minute", 0, 59, NULL},          {"hour", 0, 23, NULL},
    {"day of month", 1, 31, NULL},    {"month", 1, 12, month_names},
    {"day of week", 0, 7, day_names},
};

static int fail(sp_cron_error *e, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(sp_cron_error *e, const char *field, const char *fmt, ...)
{
    e->field = field;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return SP_EINVAL;
}

/* One value of field f at s (digits, or a name where the field has names): its length in
 * *used, or 0 with e filled. */
static int value(const field_spec *f, const char *s, size_t len, int *out, sp_cron_error *e)
{
    if (len == 0)
        return fail(e, f->name, "a value is missing");
    if (s[0] >= '0' && s[0] <= '9') {
        int v = 0;
        for (size_t i = 0; i < len; i++) {
            if (s[i] < '0' || s[i] > '9')
                return fail(e, f->name, "'%.*s' is not a number", (int)(len > 16 ? 16 : len), s);
            v = v * 10 + (s[i] - '0');
            if (v > 1000)
                break;
        }
        if (v < f->min || v > f->max)
            return fail(e, f->name, "'%.*s' is out of range %d-%d", (int)(len > 16 ? 16 : len), s,
                        f->min, f->max);
        *out = v;
        return 0;
    }
    if (f->names) {
        size_t n = (size_t)(f->max - f->min + 1) - (f->max == 7); /* Sunday is named once */
        for (size_t i = 0; i < n; i++) {
            if (len == 3 && strncasecmp(s, f->names[i], 3) == 0) {
                *out = f->min + (int)i;
                return 0;
            }
        }
        return fail(e, f->name, "unknown name '%.*s' (use %s..%s or numbers)",
                    (int)(len > 16 ? 16 : len), s, f->names[0], f->names[n - 1]);
    }
    return fail(e, f->name, "'%.*s' is not a number", (int)(len > 16 ? 16 : len), s);
}

/* One item of a field's list, into *bits. */
static int item(const field_spec *f, const char *s, size_t len, uint64_t *bits, sp_cron_error *e)
{
    const char *slash = memchr(s, '/', len);
    size_t base_len = slash ? (size_t)(slash - s) : len;
    int lo, hi, step = 1;
    if (slash) {
        size_t sl = len - base_len - 1;
        int st = 0;
        if (sl == 0 || sl > 4)
            return fail(e, f->name, "a step after '/' must be a number from 1 to %d",
                        f->max - f->min + 1);
        for (size_t i = 0; i < sl; i++) {
            if (slash[1 + i] < '0' || slash[1 + i] > '9')
                return fail(e, f->name, "a step after '/' must be a number from 1 to %d",
                            f->max - f->min + 1);
            st = st * 10 + (slash[1 + i] - '0');
        }
        if (st < 1 || st > f->max - f->min + 1)
            return fail(e, f->name, "step %d is out of range 1-%d", st, f->max - f->min + 1);
        step = st;
    }
    if (base_len == 1 && s[0] == '*') {
        lo = f->min;
        hi = f->max == 7 ? 6 : f->max;
    } else {
        const char *dash = memchr(s, '-', base_len);
        size_t a_len = dash ? (size_t)(dash - s) : base_len;
        if (value(f, s, a_len, &lo, e))
            return SP_EINVAL;
        if (dash) {
            if (value(f, dash + 1, base_len - a_len - 1, &hi, e))
                return SP_EINVAL;
            if (hi < lo)
                return fail(e, f->name, "the range %d-%d goes backwards", lo, hi);
        } else {
            /* "N/S" is N to the field's end every S (Vixie cron); "N" alone is N. */
            hi = slash ? (f->max == 7 ? 6 : f->max) : lo;
        }
    }
    for (int v = lo; v <= hi; v += step)
        *bits |= (uint64_t)1 << (f->max == 7 && v == 7 ? 0 : v);
    return 0;
}

static int field_parse(const field_spec *f, const char *s, size_t len, uint64_t *bits,
                       sp_cron_error *e)
{
    *bits = 0;
    const char *end = s + len;
    while (s <= end) {
        const char *comma = memchr(s, ',', (size_t)(end - s));
        size_t n = comma ? (size_t)(comma - s) : (size_t)(end - s);
        if (n == 0)
            return fail(e, f->name, "an empty item in a list");
        if (item(f, s, n, bits, e))
            return SP_EINVAL;
        if (!comma)
            break;
        s = comma + 1;
    }
    return 0;
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

int sp_cron_parse(const char *text, sp_cron *out, sp_cron_error *e)
{
    static const struct {
        const char *name, *expr;
    } macros[] = {
        {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
        {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
        {"@hourly", "0 * * * *"},
    };
    memset(out, 0, sizeof *out);
    e->field = "";
    e->msg[0] = '\0';
    size_t tlen = text ? strlen(text) : 0;
    if (tlen == 0)
        return fail(e, "", "empty: expected 5 fields (minute hour day-of-month month day-of-week)");
    if (tlen > SP_SCHED_CRON_MAX)
        return fail(e, "", "longer than %d bytes", SP_SCHED_CRON_MAX);
    while (is_blank(*text))
        text++;
    if (text[0] == '@') {
        size_t n = strcspn(text, " \t");
        const char *rest = text + n;
        while (is_blank(*rest))
            rest++;
        for (size_t i = 0; i < SP_ARRAY_LEN(macros); i++)
            if (!*rest && strlen(macros[i].name) == n && strncasecmp(text, macros[i].name, n) == 0)
                return sp_cron_parse(macros[i].expr, out, e);
        return fail(e, "",
                    "unknown macro '%.*s' (use @yearly, @monthly, @weekly, @daily or @hourly)",
                    (int)(n > 20 ? 20 : n), text);
    }
    const char *start[6];
    size_t len[6];
    int nf = 0;
    for (const char *p = text; *p;) {
        if (is_blank(*p)) {
            p++;
            continue;
        }
        const char *s = p;
        while (*p && !is_blank(*p))
            p++;
        if (nf < 6) {
            start[nf] = s;
            len[nf] = (size_t)(p - s);
        }
        nf++;
    }
    if (nf != 5)
        return fail(e, "",
                    "expected 5 fields (minute hour day-of-month month day-of-week), found %d%s",
                    nf, nf == 6 ? " (seconds and years are not supported)" : "");
    for (int i = 0; i < 5; i++)
        for (size_t k = 0; k < len[i]; k++) {
            char ch = start[i][k];
            if (!((ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= 'a' && ch <= 'z') || ch == '*' || ch == ',' || ch == '-' || ch == '/'))
                return fail(e, fields[i].name, "'%c' is not allowed (only digits, names, * , - /)",
                            ch >= 0x20 && ch < 0x7f ? ch : '?');
        }
    uint64_t bits[5];
    for (int i = 0; i < 5; i++)
        if (field_parse(&fields[i], start[i], len[i], &bits[i], e))
            return SP_EINVAL;
    out->minutes = bits[0];
    out->hours = (uint32_t)bits[1];
    out->mdays = (uint32_t)bits[2];
    out->months = (uint16_t)bits[3];
    out->wdays = (uint8_t)bits[4];
    out->dom_any = start[2][0] == '*';
    out->dow_any = start[4][0] == '*';
    return 0;
}

int sp_cron_every_hour(const sp_cron *c)
{
    return (c->hours & 0xffffffu) == 0xffffffu;
}

/* ---- Fire times ---- */

static int day_matches(const sp_cron *c, int64_t days, unsigned mday)
{
    int wday = (int)((days % 7 + 11) % 7); /* 1970-01-01 was a Thursday */
    int dom = (c->mdays >> mday) & 1;
    int dow = (c->wdays >> wday) & 1;
    if (c->dom_any || c->dow_any)
        return dom && dow;
    return dom || dow;
}

/* The first local minute at or after local (whole minutes) that the fields match, up to limit;
 * SP_ENOTFOUND beyond it. Skips whole months, days and hours that cannot match. */
static int next_local(const sp_cron *c, int64_t local, int64_t limit, int64_t *out)
{
    while (local <= limit) {
        int64_t days = local >= 0 ? local / 86400 : -((-local + 86399) / 86400);
        int64_t y;
        unsigned mo, d;
        sp_tz_civil_from_days(days, &y, &mo, &d);
        int64_t sod = local - days * 86400;
        unsigned hour = (unsigned)(sod / 3600), minute = (unsigned)(sod % 3600 / 60);
        if (!((c->months >> mo) & 1)) {
            local = (sp_tz_days_from_civil(mo == 12 ? y + 1 : y, mo == 12 ? 1 : mo + 1, 1)) * 86400;
            continue;
        }
        if (!day_matches(c, days, d)) {
            local = (days + 1) * 86400;
            continue;
        }
        if (!((c->hours >> hour) & 1)) {
            local = days * 86400 + (int64_t)(hour + 1) * 3600;
            continue;
        }
        if (!((c->minutes >> minute) & 1)) {
            local += 60;
            continue;
        }
        *out = local;
        return 0;
    }
    return SP_ENOTFOUND;
}

int sp_cron_next(const sp_cron *c, const sp_tz *z, int64_t after, int64_t *next)
{
    int32_t lo, hi;
    sp_tz_range(z, &lo, &hi);
    int every_hour = sp_cron_every_hour(c);
    int64_t limit = after + (int64_t)SP_SCHED_HORIZON_DAYS * 86400 + hi;
    /* An instant t shows local = t + offset(t), so an instant after `after` shows a local time
     * after after + lo, and a local time L is shown no earlier than L - hi: walk local minutes
     * from after + lo on, and stop once L - hi is past the best instant found. */
    int64_t start = after + lo + 1;
    int64_t local = start >= 0 ? (start + 59) / 60 * 60 : -((-start) / 60 * 60);
    int64_t best = INT64_MAX;
    while (next_local(c, local, limit, &local) == 0) {
        if (best != INT64_MAX && local - hi > best)
            break;
        int64_t at[2], gap_end = INT64_MAX;
        int n = sp_tz_resolve(z, local, at, &gap_end);
        /* A repeated hour fires at its first occurrence only, unless the expression follows
         * the clock. */
        for (int i = 0; i < (every_hour ? n : n > 0); i++)
            if (at[i] > after && at[i] < best)
                best = at[i];
        if (n == 0 && !every_hour && gap_end > after && gap_end < best)
            best = gap_end;
        local += 60;
    }
    if (best == INT64_MAX)
        return SP_ENOTFOUND;
    *next = best;
    return 0;
}
