/*
 * fuzz_csv.c - the CSV reader on arbitrary bytes.
 *
 * The input is parsed with each delimiter, with the default caps and with small ones (so the
 * SP_ELIMIT paths run too). Whatever parses is checked: the field names are non-empty and
 * unique, there is at least one row, every row is an object with exactly the header's fields,
 * each a string, and sp_csv_has_field agrees with the names. A sequential feeder then walks the
 * rows once. A failed parse must leave *out NULL and add exactly one error.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/common.h"
#include "engine/csv.h"
#include "engine/feeder.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_csv(const sp_csv *csv)
{
    size_t nf;
    const char *const *names = sp_csv_fields(csv, &nf);
    if (nf == 0 || nf > SP_CSV_MAX_FIELDS || names[nf] != NULL)
        abort();
    for (size_t i = 0; i < nf; i++) {
        if (!names[i][0] || !sp_csv_has_field(csv, names[i]))
            abort();
        for (size_t j = 0; j < i; j++)
            if (strcmp(names[i], names[j]) == 0)
                abort();
    }
    size_t nrows = sp_csv_nrows(csv);
    if (nrows == 0 || json_array_size(sp_csv_rows(csv)) != nrows || sp_csv_row(csv, nrows))
        abort();
    for (size_t r = 0; r < nrows; r++) {
        const json_t *row = sp_csv_row(csv, r); /* borrowed */
        if (!json_is_object(row) || json_object_size(row) != nf)
            abort();
        for (size_t i = 0; i < nf; i++) {
            const json_t *v = json_object_get(row, names[i]); /* borrowed */
            if (!json_is_string(v) || json_string_length(v) > SP_CSV_MAX_FIELD_BYTES)
                abort();
        }
    }
    sp_feeder *f = sp_feeder_new(csv, NULL);
    if (!f)
        abort();
    for (size_t r = 0; r < nrows; r++) {
        const json_t *row;
        if (sp_feeder_next(f, NULL, &row) != 0 || row != sp_csv_row(csv, r))
            abort();
    }
    sp_feeder_free(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char delims[] = {',', ';', '\t'};
    static const sp_csv_opts small = {.max_rows = 3, .max_fields = 4, .max_field_bytes = 8};
    for (size_t d = 0; d < SP_ARRAY_LEN(delims); d++) {
        for (int capped = 0; capped < 2; capped++) {
            sp_csv_opts o = capped ? small : (sp_csv_opts){0};
            o.delimiter = delims[d];
            o.name = "fuzz.csv";
            sp_errlist errs;
            sp_errlist_init(&errs);
            sp_csv *csv = (sp_csv *)&errs; /* must be overwritten either way */
            int rc = sp_csv_parse((const char *)data, size, &o, &csv, &errs);
            if (rc == 0) {
                if (!csv || errs.n != 0)
                    abort();
                check_csv(csv);
                sp_csv_free(csv);
            } else {
                if (csv != NULL || errs.n != 1 || (rc != SP_EINVAL && rc != SP_ELIMIT))
                    abort();
            }
            sp_errlist_release(&errs);
        }
    }
    return 0;
}
