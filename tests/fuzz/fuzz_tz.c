/*
 * fuzz_tz.c - the zoneinfo (TZif) reader of server/sched/tz.h on arbitrary bytes. Whatever it
 * accepts must answer offsets within a day and a bit, with each change announced after the
 * instant asked about, and resolve wall-clock times to at most two instants in order.
 */
#include <stdint.h>
#include <stdlib.h>

#include "engine/common.h"
#include "sched/tz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sp_tz *z = NULL;
    char err[200];
    if (sp_tz_parse("fuzz", data, size, &z, err, sizeof err) != 0)
        return 0;
    static const int64_t probes[] = {-4000000000LL, -1,           0,           1000000000LL,
                                     1774746000LL,  2145916800LL, 4000000000LL};
    for (size_t i = 0; i < SP_ARRAY_LEN(probes); i++) {
        int64_t until;
        int32_t off = sp_tz_offset(z, probes[i], &until);
        if (off < -26 * 3600 || off > 26 * 3600 || until <= probes[i])
            abort();
        int64_t at[2], gap;
        int n = sp_tz_resolve(z, probes[i], at, &gap);
        if (n < 0 || n > 2 || (n == 2 && at[0] >= at[1]))
            abort();
    }
    sp_tz_free(z);
    return 0;
}
