/*
 * fuzz_cron.c - the cron parser (server/sched/cron.h) and the POSIX TZ rule reader
 * (server/sched/tz.h) on arbitrary text, and the fire times of whatever they accept.
 *
 * The input is a cron expression, then optionally a NUL byte and a POSIX TZ rule ("UTC0" when
 * absent), then optionally a NUL byte and up to 8 bytes of the instant to start from. A refused
 * expression must name a known field and say why; for an accepted one in a zone that reads,
 * two fire times in a row must each lie after the instant they were asked after.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/common.h"
#include "sched/cron.h"
#include "sched/tz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    const char *expr = text;
    size_t elen = strlen(expr);
    const char *rule = elen < size ? text + elen + 1 : "UTC0";
    size_t rlen = elen < size ? strlen(rule) : 0;
    int64_t after = 1767225600; /* 2026-01-01 */
    if (elen + 1 + rlen < size) {
        const uint8_t *p = data + elen + 1 + rlen + 1;
        size_t n = size - (elen + 1 + rlen + 1);
        uint64_t v = 0;
        for (size_t i = 0; i < n && i < 8; i++)
            v = (v << 8) | p[i];
        /* Within a few thousand years of 1970 either way, as a schedule's clock could be. */
        after = (int64_t)(v % (200000ull * 86400)) - 100000LL * 86400;
    }
    sp_cron c;
    sp_cron_error e;
    if (sp_cron_parse(expr, &c, &e) != 0) {
        static const char *const known[] = {"",      "minute",     "hour", "day of month",
                                            "month", "day of week"};
        int ok = 0;
        for (size_t i = 0; i < SP_ARRAY_LEN(known); i++)
            ok |= e.field && strcmp(e.field, known[i]) == 0;
        if (!ok || !e.msg[0])
            abort();
        goto out;
    }
    sp_tz *z = NULL;
    char err[200];
    if (sp_tz_from_rule(rule, &z, err, sizeof err) != 0)
        goto out;
    int64_t next;
    if (sp_cron_next(&c, z, after, &next) == 0) {
        if (next <= after)
            abort();
        int64_t again;
        if (sp_cron_next(&c, z, next, &again) == 0 && again <= next)
            abort();
    }
    sp_tz_free(z);
out:
    free(text);
    return 0;
}
