/*
 * tz.c - see tz.h.
 *
 * A zone is kept as its offset changes: the offset before the first one, then (instant, new
 * offset) for each transition that changes the offset (a TZif file also records changes of
 * abbreviation alone, which do not matter to a clock), and the footer's rule for instants at
 * and after the file's last transition. Fat files (Debian's) list transitions up to 2037 and
 * slim ones stop when the rule takes over; both read the same here.
 */
#include "sched/tz.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/banned.h"

/* An offset beyond a day and a bit is no clock's (RFC 8536 forbids -2^31; real ones are within
 * -12h..+14h, historical local mean times a little more). */
#define OFFSET_MAX (26 * 3600)

/* One date of a POSIX rule: Jn (1..365, February 29 never counted), n (0..365, counted) or
 * Mm.w.d (day d of week w of month m; week 5 is the last), at time seconds of local time. */
typedef struct rule_date {
    char kind; /* 'J', 'D' (the plain n form), 'M' */
    int n, m, w, d;
    int32_t time;
} rule_date;

typedef struct tz_rule {
    int32_t std_off, dst_off; /* seconds east of UTC */
    int has_dst;
    rule_date start, end; /* start: into daylight saving time, in standard time; end: out, in
                             daylight saving time */
} tz_rule;

typedef struct change {
    int64_t at;
    int32_t off;
} change;

struct sp_tz {
    char *name;
    int32_t off0; /* before the first change */
    change *changes;
    size_t nchanges;
    int has_rule;
    int64_t rule_from; /* the rule applies at and after this instant (the last transition) */
    tz_rule rule;
    int32_t lo, hi; /* the smallest and largest offset used */
};

static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---- Calendar ---- */

int sp_tz_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

unsigned sp_tz_month_days(int64_t y, unsigned m)
{
    static const unsigned days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m < 1 || m > 12)
        return 0;
    return days[m - 1] + (m == 2 && sp_tz_leap(y));
}

/* Howard Hinnant's days_from_civil: exact for every year an int64_t of days can hold here. */
int64_t sp_tz_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void sp_tz_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
    *m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* ---- POSIX TZ rules ---- */

/* A name: letters ("CET"), or anything but '>' between '<' and '>' ("<+1030>"), 3 or more. */
static const char *rule_name(const char *p)
{
    const char *start = p;
    if (*p == '<') {
        p++;
        while (*p && *p != '>')
            p++;
        if (*p != '>' || p - start - 1 < 3)
            return NULL;
        return p + 1;
    }
    while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'))
        p++;
    return p - start >= 3 ? p : NULL;
}

static const char *rule_num(const char *p, int min, int max, int *out)
{
    if (*p < '0' || *p > '9')
        return NULL;
    int v = 0;
    while (*p >= '0' && *p <= '9') {
        v = v * 10 + (*p++ - '0');
        if (v > max)
            return NULL;
    }
    if (v < min)
        return NULL;
    *out = v;
    return p;
}

/* [+-]hh[:mm[:ss]], hours up to max_h (24 for an offset; 167 for a transition time, RFC 8536's
 * extension), as seconds. */
static const char *rule_time(const char *p, int max_h, int32_t *out)
{
    int sign = 1, h = 0, m = 0, s = 0;
    if (*p == '+' || *p == '-')
        sign = *p++ == '-' ? -1 : 1;
    if (!(p = rule_num(p, 0, max_h, &h)))
        return NULL;
    if (*p == ':') {
        if (!(p = rule_num(p + 1, 0, 59, &m)))
            return NULL;
        if (*p == ':' && !(p = rule_num(p + 1, 0, 59, &s)))
            return NULL;
    }
    *out = sign * (h * 3600 + m * 60 + s);
    return p;
}

static const char *rule_date_parse(const char *p, rule_date *d)
{
    memset(d, 0, sizeof *d);
    if (*p == 'J') {
        d->kind = 'J';
        p = rule_num(p + 1, 1, 365, &d->n);
    } else if (*p == 'M') {
        d->kind = 'M';
        p = rule_num(p + 1, 1, 12, &d->m);
        if (p && *p == '.')
            p = rule_num(p + 1, 1, 5, &d->w);
        else
            p = NULL;
        if (p && *p == '.')
            p = rule_num(p + 1, 0, 6, &d->d);
        else
            p = NULL;
    } else {
        d->kind = 'D';
        p = rule_num(p, 0, 365, &d->n);
    }
    if (!p)
        return NULL;
    d->time = 2 * 3600;
    if (*p == '/')
        p = rule_time(p + 1, 167, &d->time);
    return p;
}

static int rule_parse(const char *text, tz_rule *r)
{
    memset(r, 0, sizeof *r);
    int32_t off;
    const char *p = rule_name(text);
    if (!p || !(p = rule_time(p, 24, &off)))
        return SP_EINVAL;
    r->std_off = r->dst_off = -off; /* POSIX counts west of UTC */
    if (!*p)
        return 0;
    if (!(p = rule_name(p)))
        return SP_EINVAL;
    r->has_dst = 1;
    r->dst_off = r->std_off + 3600;
    if (*p && *p != ',') {
        if (!(p = rule_time(p, 24, &off)))
            return SP_EINVAL;
        r->dst_off = -off;
    }
    /* Without dates, POSIX leaves the rules to the implementation; the tz database always
     * writes them, so a footer without them is refused rather than guessed. */
    if (*p != ',' || !(p = rule_date_parse(p + 1, &r->start)) || *p != ',' ||
        !(p = rule_date_parse(p + 1, &r->end)) || *p)
        return SP_EINVAL;
    return 0;
}

/* The day (since the epoch) that d names in year y. */
static int64_t rule_day(const rule_date *d, int64_t y)
{
    int64_t jan1 = sp_tz_days_from_civil(y, 1, 1);
    switch (d->kind) {
    case 'J':
        return jan1 + d->n - 1 + (sp_tz_leap(y) && d->n >= 60);
    case 'D':
        return jan1 + d->n;
    default: {
        int64_t first = sp_tz_days_from_civil(y, (unsigned)d->m, 1);
        int wd = (int)((first % 7 + 11) % 7); /* 1970-01-01 was a Thursday (4) */
        int64_t day = first + (d->d - wd + 7) % 7 + 7 * (d->w - 1);
        while (day >= first + sp_tz_month_days(y, (unsigned)d->m))
            day -= 7;
        return day;
    }
    }
}

/* The rule's two transitions of year y (local years of the standard time): into daylight
 * saving time at *start, out of it at *end. */
static void rule_year(const tz_rule *r, int64_t y, int64_t *start, int64_t *end)
{
    *start = rule_day(&r->start, y) * 86400 + r->start.time - r->std_off;
    *end = rule_day(&r->end, y) * 86400 + r->end.time - r->dst_off;
}

/* The rule's offset at t and the next instant after t where it changes. */
static int32_t rule_offset(const tz_rule *r, int64_t t, int64_t *until)
{
    if (!r->has_dst || r->std_off == r->dst_off) {
        *until = INT64_MAX;
        return r->std_off;
    }
    int64_t y0, yy;
    unsigned m, d;
    sp_tz_civil_from_days(floor_div(t + r->std_off, 86400), &y0, &m, &d);
    /* The transitions of five years around t, in order; at equal instants the later one in the
     * list wins (a rule that is in daylight saving time all year ends one year's period at the
     * instant the next one starts). Changes are looked for up to the last year, which is there
     * only to finish the groups of equal instants before it. */
    int64_t at[10];
    int32_t off[10];
    size_t n = 0, scan = 8;
    for (yy = y0 - 1; yy <= y0 + 3; yy++) {
        int64_t s, e;
        rule_year(r, yy, &s, &e);
        int s_first = s < e;
        at[n] = s_first ? s : e;
        off[n++] = s_first ? r->dst_off : r->std_off;
        at[n] = s_first ? e : s;
        off[n++] = s_first ? r->std_off : r->dst_off;
    }
    /* Sorted already within a year; years follow each other. Find the last at <= t. */
    int32_t cur = off[0] == r->dst_off ? r->std_off : r->dst_off;
    size_t i = 0;
    while (i < n && at[i] <= t)
        cur = off[i++];
    *until = INT64_MAX;
    for (; i < scan; i++) {
        /* The offset in effect at at[i]: the last of the transitions at that instant. */
        size_t k = i;
        while (k + 1 < n && at[k + 1] == at[i])
            k++;
        if (off[k] != cur) {
            *until = at[i];
            break;
        }
        i = k;
    }
    return cur;
}

/* ---- Zones ---- */

void sp_tz_free(sp_tz *z)
{
    if (!z)
        return;
    free(z->name);
    free(z->changes);
    free(z);
}

const char *sp_tz_name(const sp_tz *z)
{
    return z->name;
}

void sp_tz_range(const sp_tz *z, int32_t *lo, int32_t *hi)
{
    *lo = z->lo;
    *hi = z->hi;
}

static void widen(sp_tz *z, int32_t off)
{
    if (off < z->lo)
        z->lo = off;
    if (off > z->hi)
        z->hi = off;
}

int32_t sp_tz_offset(const sp_tz *z, int64_t t, int64_t *until)
{
    int64_t u = INT64_MAX;
    int32_t off;
    if (z->has_rule && t >= z->rule_from) {
        off = rule_offset(&z->rule, t, &u);
        goto out;
    }
    /* The last change at or before t. */
    size_t lo = 0, hi = z->nchanges;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (z->changes[mid].at <= t)
            lo = mid + 1;
        else
            hi = mid;
    }
    off = lo ? z->changes[lo - 1].off : z->off0;
    if (lo < z->nchanges) {
        u = z->changes[lo].at;
    } else if (z->has_rule) {
        int64_t ru;
        int32_t roff = rule_offset(&z->rule, z->rule_from, &ru);
        u = roff != off ? z->rule_from : ru;
    }
out:
    if (until)
        *until = u;
    return off;
}

int sp_tz_resolve(const sp_tz *z, int64_t local, int64_t at[2], int64_t *gap_end)
{
    /* Every offset in effect within a day either side of local, in order: an instant t shows
     * local exactly when t = local - offset(t). */
    int n = 0;
    int64_t t = local - 2 * 86400, until;
    int64_t prev_end = INT64_MIN;
    int64_t gap = INT64_MAX;
    for (int guard = 0; guard < 64 && t <= local + 2 * 86400; guard++) {
        int32_t off = sp_tz_offset(z, t, &until);
        int64_t cand = local - off;
        if (cand >= t && cand < until && n < 2) {
            at[n++] = cand;
        } else if (n == 0 && cand < t && prev_end != INT64_MIN && gap == INT64_MAX) {
            /* The previous segment's clock had not reached local when it ended, and this
             * one's had passed it when it began: local was skipped at this transition. */
            gap = t;
        }
        prev_end = until;
        if (until == INT64_MAX)
            break;
        t = until;
    }
    if (n == 0 && gap_end)
        *gap_end = gap;
    return n;
}

/* Reads big-endian numbers. */
static int64_t be64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return (int64_t)v;
}

static int32_t be32(const unsigned char *p)
{
    return (int32_t)(((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) |
                     (uint32_t)p[3]);
}

typedef struct tzif_counts {
    uint32_t isut, isstd, leap, time, type, chars;
} tzif_counts;

/* The header at p (44 bytes): its counts, or SP_EINVAL. */
static int tzif_header(const unsigned char *p, size_t len, tzif_counts *c, char *version)
{
    if (len < 44 || memcmp(p, "TZif", 4) != 0)
        return SP_EINVAL;
    *version = (char)p[4];
    int32_t v[6];
    for (int i = 0; i < 6; i++) {
        v[i] = be32(p + 20 + 4 * i);
        if (v[i] < 0)
            return SP_EINVAL;
    }
    *c = (tzif_counts){(uint32_t)v[0], (uint32_t)v[1], (uint32_t)v[2],
                       (uint32_t)v[3], (uint32_t)v[4], (uint32_t)v[5]};
    if (c->type < 1 || c->type > 256 || c->time > SP_TZ_MAX_TRANSITIONS || c->chars < 1 ||
        c->chars > 65536 || c->leap > 65536 || (c->isut && c->isut != c->type) ||
        (c->isstd && c->isstd != c->type))
        return SP_EINVAL;
    return 0;
}

/* The body's size for time values of tsize bytes (4 in version 1, 8 after). */
static size_t tzif_body(const tzif_counts *c, size_t tsize)
{
    return c->time * tsize + c->time + c->type * 6u + c->chars + c->leap * (tsize + 4) + c->isstd +
           c->isut;
}

int sp_tz_parse(const char *name, const void *data, size_t len, sp_tz **out, char *err,
                size_t errlen)
{
    *out = NULL;
    const unsigned char *p = data;
    tzif_counts c;
    char version;
    if (len > SP_TZ_MAX_FILE) {
        seterr(err, errlen, "time zone '%s': the file is larger than %u bytes", name,
               SP_TZ_MAX_FILE);
        return SP_ELIMIT;
    }
    if (tzif_header(p, len, &c, &version) != 0)
        goto bad;
    size_t tsize = 4;
    size_t body = tzif_body(&c, 4);
    if (len - 44 < body)
        goto bad;
    const unsigned char *end = p + len;
    if (version >= '2') {
        /* Version 2 and later repeat the data with 64-bit times after the version 1 block. */
        p += 44 + body;
        if (tzif_header(p, (size_t)(end - p), &c, &version) != 0)
            goto bad;
        tsize = 8;
        body = tzif_body(&c, 8);
        if ((size_t)(end - p) - 44 < body)
            goto bad;
    }
    const unsigned char *times = p + 44;
    const unsigned char *idx = times + c.time * tsize;
    const unsigned char *types = idx + c.time;
    const unsigned char *footer = p + 44 + body;

    sp_tz *z = sp_calloc(1, sizeof *z);
    z->name = sp_strdup(name);
    int32_t type_off[256];
    for (uint32_t i = 0; i < c.type; i++) {
        type_off[i] = be32(types + 6 * i);
        if (type_off[i] < -OFFSET_MAX || type_off[i] > OFFSET_MAX || types[6 * i + 4] > 1 ||
            types[6 * i + 5] >= c.chars) {
            sp_tz_free(z);
            goto bad;
        }
    }
    /* Local time before the first transition is type 0's (RFC 8536 3.2). */
    z->off0 = type_off[0];
    z->lo = z->hi = z->off0;
    z->changes = sp_calloc(c.time ? c.time : 1, sizeof *z->changes);
    int32_t cur = z->off0;
    int64_t last = INT64_MIN;
    for (uint32_t i = 0; i < c.time; i++) {
        int64_t at = tsize == 8 ? be64(times + 8 * i) : be32(times + 4 * i);
        if (at <= last || idx[i] >= c.type) {
            sp_tz_free(z);
            goto bad;
        }
        last = at;
        int32_t off = type_off[idx[i]];
        widen(z, off);
        if (off != cur) {
            z->changes[z->nchanges++] = (change){at, off};
            cur = off;
        }
    }
    /* The footer: "\n" rule "\n" (empty when the table says everything). */
    if (version >= '2') {
        const unsigned char *nl =
            footer + 1 < end ? memchr(footer + 1, '\n', (size_t)(end - footer - 1)) : NULL;
        size_t rlen = nl ? (size_t)(nl - footer - 1) : 0;
        if (footer >= end || footer[0] != '\n' || !nl || rlen > SP_TZ_MAX_RULE) {
            sp_tz_free(z);
            goto bad;
        }
        if (rlen) {
            char rule[SP_TZ_MAX_RULE + 1];
            memcpy(rule, footer + 1, rlen);
            rule[rlen] = '\0';
            if (memchr(rule, '\0', rlen) || rule_parse(rule, &z->rule) != 0) {
                sp_tz_free(z);
                seterr(err, errlen, "time zone '%s': its rule '%.64s' cannot be read", name, rule);
                return SP_EINVAL;
            }
            z->has_rule = 1;
            z->rule_from = c.time ? last : INT64_MIN;
            widen(z, z->rule.std_off);
            widen(z, z->rule.dst_off);
        }
    }
    *out = z;
    return 0;
bad:
    seterr(err, errlen, "time zone '%s': not a zoneinfo (TZif) file", name);
    return SP_EINVAL;
}

int sp_tz_from_rule(const char *rule, sp_tz **out, char *err, size_t errlen)
{
    *out = NULL;
    tz_rule r;
    if (!rule || strlen(rule) > SP_TZ_MAX_RULE || rule_parse(rule, &r) != 0) {
        seterr(err, errlen, "'%.64s' is not a POSIX TZ rule", rule ? rule : "");
        return SP_EINVAL;
    }
    sp_tz *z = sp_calloc(1, sizeof *z);
    z->name = sp_strdup(rule);
    z->has_rule = 1;
    z->rule_from = INT64_MIN;
    z->rule = r;
    z->off0 = r.std_off;
    z->lo = z->hi = r.std_off;
    widen(z, r.dst_off);
    *out = z;
    return 0;
}

int sp_tz_name_check(const char *name, char *err, size_t errlen)
{
    size_t len = name ? strlen(name) : 0;
    if (len == 0 || len > SP_TZ_MAX_NAME) {
        seterr(err, errlen, "a time zone name is 1 to %d bytes, such as Europe/Berlin or UTC",
               SP_TZ_MAX_NAME);
        return SP_EINVAL;
    }
    if (strncmp(name, "right/", 6) == 0) {
        seterr(err, errlen, "'%s': zones under right/ count leap seconds; use the zone without it",
               name);
        return SP_EINVAL;
    }
    for (const char *part = name;;) {
        size_t n = strcspn(part, "/");
        if (n == 0 || (n == 1 && part[0] == '.') || (n == 2 && part[0] == '.' && part[1] == '.')) {
            seterr(err, errlen, "'%.64s' is not a time zone name such as Europe/Berlin", name);
            return SP_EINVAL;
        }
        for (size_t i = 0; i < n; i++) {
            char ch = part[i];
            if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                  (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' || ch == '+' || ch == '.')) {
                seterr(err, errlen, "'%.64s' is not a time zone name such as Europe/Berlin", name);
                return SP_EINVAL;
            }
        }
        if (!part[n])
            break;
        part += n + 1;
    }
    return 0;
}

int sp_tz_load(const char *name, sp_tz **out, char *err, size_t errlen)
{
    *out = NULL;
    int rc = sp_tz_name_check(name, err, errlen);
    if (rc)
        return rc;
    char path[sizeof SP_TZ_DIR + SP_TZ_MAX_NAME + 2];
    snprintf(path, sizeof path, "%s/%s", SP_TZ_DIR, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        int e = fd < 0 ? errno : 0;
        if (fd >= 0)
            close(fd);
        if (e && e != ENOENT && e != ENOTDIR) {
            seterr(err, errlen, "time zone '%s': cannot read %s: %s", name, path, strerror(e));
            return SP_ESYS;
        }
        seterr(err, errlen, "unknown time zone '%s' (the zones are in %s)", name, SP_TZ_DIR);
        return SP_ENOTFOUND;
    }
    if ((uint64_t)st.st_size > SP_TZ_MAX_FILE) {
        close(fd);
        seterr(err, errlen, "time zone '%s': the file is larger than %u bytes", name,
               SP_TZ_MAX_FILE);
        return SP_ELIMIT;
    }
    size_t size = (size_t)st.st_size;
    unsigned char *buf = sp_malloc(size ? size : 1);
    size_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    rc = got == size ? sp_tz_parse(name, buf, size, out, err, errlen) : SP_EIO;
    if (rc == SP_EIO)
        seterr(err, errlen, "time zone '%s': cannot read %s", name, path);
    else if (rc == SP_EINVAL)
        seterr(err, errlen, "unknown time zone '%s' (not a zone of %s)", name, SP_TZ_DIR);
    free(buf);
    return rc;
}
