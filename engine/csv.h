/*
 * csv.h - CSV data files for feeders: parsed once at load, then read by every worker thread.
 *
 * The format is RFC 4180 plus common practice:
 *   - the first record is the header: its fields are the field names. Names are trimmed of
 *     spaces and tabs (so "email, password" works) and must be non-empty and unique. A name that
 *     is not a template name ([A-Za-z_][A-Za-z0-9_-]*) is allowed but cannot be used as row.NAME.
 *   - a UTF-8 byte order mark at the start is skipped; a UTF-16 one is refused with a hint. The
 *     whole input must be valid UTF-8 without NUL bytes.
 *   - records end with LF, CRLF or a lone CR; the last one may or may not have a line end.
 *     Blank lines (nothing between two line ends) are skipped, so in a one-column file an empty
 *     value must be written "".
 *   - fields are separated by the delimiter (',' by default, ';' or '\t' allowed). A field is
 *     either unquoted (taken verbatim, spaces included, and it may not contain '"') or enclosed
 *     in double quotes, in which the delimiter, CR and LF are data and "" stands for one '"'.
 *     Only the delimiter or a line end may follow a closing quote.
 *   - every data record has exactly as many fields as the header; a file with a header and no
 *     data rows is an error, since a feeder needs at least one row.
 *
 * Errors stop the parse at the first problem and name the 1-based number of the physical line on
 * which the offending record starts (a record with quoted line breaks spans several lines), e.g.
 * "users.csv: line 7: 3 fields, the header has 4"; encoding errors also name the column
 * (counted in characters). Sizes are bounded by the SP_CSV_* caps in limits.h.
 *
 * The result holds the field names and the rows: a Jansson array of objects mapping each field
 * name to a string. It is immutable after parsing.
 *
 * Threads: parse on one thread; afterwards an sp_csv may be read by any number of threads at once
 * as long as nobody changes it or the reference counts of its Jansson values. Readers therefore
 * only borrow: json_object_get(), json_object_iter*(), json_array_get(), json_string_value()
 * and json_string_length() are fine; json_incref(), json_decref(), json_object_set*() and
 * anything that steals a reference are not. Free it only after every reader has stopped.
 */
#ifndef SP_CSV_H
#define SP_CSV_H

#include <jansson.h>
#include <stddef.h>

#include "engine/common.h"

typedef struct sp_csv sp_csv;

/* Parse options. A zeroed struct means: ',' as delimiter, no error prefix. */
typedef struct sp_csv_opts {
    char delimiter;      /* ',', ';' or '\t'; 0 means ',' */
    const char *name;    /* prefix of error messages, e.g. the file name (borrowed; NULL: none).
                            sp_csv_load() uses the path when this is NULL. */
    const char *errpath; /* path of the errors in the sp_errlist, e.g. "users[0].data.file"
                            (borrowed; NULL: "") */
    /* Lower caps than the limits.h ones, for tests and per-test settings; 0 (or a value above
     * the limits.h cap) means the limits.h cap. */
    size_t max_bytes, max_rows, max_fields, max_field_bytes, max_cells;
} sp_csv_opts;

/*
 * Parses len bytes at buf (not necessarily NUL-terminated; buf is only read during the call).
 * On success returns 0 and sets *out to a new sp_csv (free it with sp_csv_free()). On failure
 * returns SP_EINVAL (malformed input or a bad option) or SP_ELIMIT (a cap), sets *out to NULL and
 * adds one error to errs (which may be NULL when the reason is not wanted).
 */
int sp_csv_parse(const char *buf, size_t len, const sp_csv_opts *opts, sp_csv **out,
                 sp_errlist *errs);

/*
 * Reads the file at path and parses it as sp_csv_parse() does. A missing file is SP_ENOTFOUND, a
 * file that cannot be read SP_EIO, a file over the byte cap SP_ELIMIT (checked before reading);
 * each adds an error naming the path.
 */
int sp_csv_load(const char *path, const sp_csv_opts *opts, sp_csv **out, sp_errlist *errs);

void sp_csv_free(sp_csv *csv);

/* The field names, in header order. The array and the strings belong to csv; the array fits
 * sp_scope.row_fields directly. */
const char *const *sp_csv_fields(const sp_csv *csv, size_t *nfields);

/* True (1) when name is one of the header's field names, for validating {{row.NAME}} at load. */
int sp_csv_has_field(const sp_csv *csv, const char *name);

/* The number of data rows (at least 1). */
size_t sp_csv_nrows(const sp_csv *csv);

/* Row i (0-based, i < nrows) as an object field -> string, borrowed from csv; NULL when i is out
 * of range. */
const json_t *sp_csv_row(const sp_csv *csv, size_t i);

/* All rows as an array of objects, borrowed from csv. */
const json_t *sp_csv_rows(const sp_csv *csv);

/* The delimiter a name stands for in a definition ("," ";" "\t" "tab" "comma" "semicolon"), or
 * 0 when the name is none of these. */
char sp_csv_delimiter_from_name(const char *name);

#endif
