/*
 * log.c - see log.h.
 */
#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/common.h"
#include "engine/limits.h"

static volatile int threshold = SP_LOG_INFO;
static volatile int journal = -1; /* -1: not looked at yet */

static const char *const names[] = {"debug", "info", "warn", "error"};
/* syslog priorities: debug 7, info 6, warning 4, err 3 (sd-daemon.h's SD_* prefixes). */
static const char *const prefixes[] = {"<7>", "<6>", "<4>", "<3>"};

void sp_log_init(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    journal = js && *js;
}

void sp_log_set_level(sp_log_level level)
{
    threshold = level;
}

int sp_log_enabled(sp_log_level level)
{
    return (int)level >= threshold;
}

int sp_log_level_parse(const char *name, sp_log_level *out)
{
    for (int i = 0; i < (int)SP_ARRAY_LEN(names); i++) {
        if (strcmp(name, names[i]) == 0) {
            *out = (sp_log_level)i;
            return 0;
        }
    }
    if (strcmp(name, "warning") == 0) {
        *out = SP_LOG_WARN;
        return 0;
    }
    return SP_EINVAL;
}

const char *sp_log_level_name(sp_log_level level)
{
    return (unsigned)level < SP_ARRAY_LEN(names) ? names[level] : "info";
}

/* A value as logfmt: quoted when it holds spaces, quotes or '=', control bytes escaped, cut at
 * SP_HTTP_MAX_LOG_VALUE bytes, so a client-supplied path cannot forge a line. */
static void add_value(sp_buf *b, const char *v)
{
    size_t n = strlen(v);
    int quote = n == 0;
    for (size_t i = 0; i < n && !quote; i++) {
        unsigned char c = (unsigned char)v[i];
        quote = c <= ' ' || c == '"' || c == '=' || c == '\\' || c == 0x7f;
    }
    size_t cut = n > SP_HTTP_MAX_LOG_VALUE ? SP_HTTP_MAX_LOG_VALUE : n;
    if (quote)
        sp_buf_addc(b, '"');
    for (size_t i = 0; i < cut; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c == '"' || c == '\\') {
            sp_buf_addc(b, '\\');
            sp_buf_addc(b, (char)c);
        } else if (c == '\n') {
            sp_buf_adds(b, "\\n");
        } else if (c < ' ' || c == 0x7f) {
            sp_buf_addf(b, "\\x%02x", c);
        } else {
            sp_buf_addc(b, (char)c);
        }
    }
    if (cut < n)
        sp_buf_adds(b, "...");
    if (quote)
        sp_buf_addc(b, '"');
}

static void start_line(sp_buf *b, sp_log_level level, const char *msg)
{
    if (journal < 0)
        sp_log_init();
    /* A line has a few values of at most SP_HTTP_MAX_LOG_VALUE bytes each, escaped. */
    sp_buf_init(b, 16u << 10);
    if (journal)
        sp_buf_adds(b, prefixes[(unsigned)level < SP_ARRAY_LEN(prefixes) ? level : 1]);
    sp_buf_adds(b, "level=");
    sp_buf_adds(b, sp_log_level_name(level));
    sp_buf_adds(b, " msg=");
    add_value(b, msg);
}

static void end_line(sp_buf *b)
{
    if (!journal) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        char when[40];
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
        sp_buf_addf(b, " ts=%s.%03ldZ", when, ts.tv_nsec / 1000000);
    }
    sp_buf_addc(b, '\n');
    fwrite(b->p, 1, b->len, stderr);
    sp_buf_release(b);
}

void sp_log(sp_log_level level, const char *fmt, ...)
{
    if (!sp_log_enabled(level))
        return;
    char msg[SP_HTTP_MAX_LOG_VALUE + 1];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    sp_buf b;
    start_line(&b, level, msg);
    end_line(&b);
}

void sp_log_kvv(sp_log_level level, const char *msg, va_list ap)
{
    if (!sp_log_enabled(level))
        return;
    sp_buf b;
    start_line(&b, level, msg);
    const char *k;
    while ((k = va_arg(ap, const char *)) != NULL) {
        const char *v = va_arg(ap, const char *);
        sp_buf_addc(&b, ' ');
        sp_buf_adds(&b, k);
        sp_buf_addc(&b, '=');
        add_value(&b, v ? v : "-");
    }
    end_line(&b);
}

void sp_log_kv(sp_log_level level, const char *msg, ...)
{
    va_list ap;
    va_start(ap, msg);
    sp_log_kvv(level, msg, ap);
    va_end(ap);
}
