/*
 * csv.c - see csv.h.
 *
 * Parsing is two passes over the buffer: the first checks the encoding (so that every later
 * error can assume valid UTF-8 and the encoding error can name a column), the second splits
 * records. A record's fields are unquoted into one scratch buffer, then turned into a Jansson
 * object; nothing is built for a record until all of it has been read.
 */
#include "engine/csv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct sp_csv {
    char **fields; /* nfields NUL-terminated names, then a NULL */
    size_t nfields;
    json_t *rows; /* array of objects; owned (one reference) */
};

typedef struct field {
    size_t off, len; /* in parser.scratch */
} field;

typedef struct parser {
    const unsigned char *p, *end;
    char delim;
    size_t line; /* physical line of p, 1-based */
    size_t max_bytes, max_rows, max_fields, max_field_bytes, max_cells;
    const char *name, *errpath;
    sp_errlist *errs;
    sp_buf scratch; /* the current record's unquoted field values, back to back */
    field *fv;
    size_t nfv, fvcap;
} parser;

static size_t cap_or(size_t v, size_t cap)
{
    return v == 0 || v > cap ? cap : v;
}

/* How many bytes of s to show in a message: at most max, cut before a UTF-8 continuation byte
 * so that the message stays valid UTF-8. The error list drops messages over its own cap, so
 * anything of unbounded length (a path, a field name) is clipped before it goes in. */
static int clip(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n <= max)
        return (int)n;
    while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
        max--;
    return (int)max;
}

#define CLIP_NAME 300 /* bytes of a file name or path in a message */
#define CLIP_FIELD 64 /* bytes of a field name in a message */

/* Adds "name: line N: reason" to the error list (no line part when line is 0) and returns rc. */
__attribute__((format(printf, 4, 5))) static int fail(parser *ps, int rc, size_t line,
                                                      const char *fmt, ...)
{
    if (!ps->errs)
        return rc;
    sp_buf b;
    sp_buf_init(&b, SP_FAIL_MSG_MAX * 4);
    if (ps->name && ps->name[0]) {
        int n = clip(ps->name, CLIP_NAME);
        (void)sp_buf_addf(&b, "%.*s%s: ", n, ps->name, ps->name[n] ? "..." : "");
    }
    if (line)
        (void)sp_buf_addf(&b, "line %zu: ", line);
    va_list ap;
    va_start(ap, fmt);
    (void)sp_buf_vaddf(&b, fmt, ap);
    va_end(ap);
    sp_errlist_add(ps->errs, ps->errpath, "%s", b.p);
    sp_buf_release(&b);
    return rc;
}

/* Length of the UTF-8 sequence at p (1..4), or 0 when it is not valid (overlong forms,
 * surrogates and code points above U+10FFFF included). */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
    unsigned char c = p[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
    } else {
        return 0;
    }
    if ((size_t)(end - p) < n)
        return 0;
    if (p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xbf)
            return 0;
    return n;
}

/* True when p is at the end of a line: LF, or a CR that is not the first half of CRLF. The
 * parser and the encoding check count lines with this same rule. */
static int ends_line(const unsigned char *p, const unsigned char *end)
{
    return *p == '\n' || (*p == '\r' && (p + 1 == end || p[1] != '\n'));
}

static int check_encoding(parser *ps)
{
    size_t line = 1, col = 1;
    for (const unsigned char *p = ps->p; p < ps->end;) {
        if (*p == 0)
            return fail(ps, SP_EINVAL, 0,
                        "line %zu, column %zu: NUL byte (is the file UTF-16 or binary? save it "
                        "as UTF-8 text)",
                        line, col);
        size_t n = utf8_len(p, ps->end);
        if (n == 0)
            return fail(ps, SP_EINVAL, 0,
                        "line %zu, column %zu: invalid UTF-8 (byte 0x%02x); save the file as "
                        "UTF-8",
                        line, col, *p);
        if (ends_line(p, ps->end)) {
            line++;
            col = 1;
        } else if (*p != '\r') {
            col++;
        }
        p += n;
    }
    return 0;
}

/* Appends n bytes to the current field, which started at scratch offset off. */
static int field_add(parser *ps, size_t line, size_t off, const unsigned char *s, size_t n,
                     int quoted)
{
    /* A quote left open swallows the rest of the file, so a quoted field over the cap is
     * more often that mistake than a real value: say so. */
    if (ps->scratch.len - off + n > ps->max_field_bytes)
        return fail(ps, SP_ELIMIT, line, "field %zu is longer than %zu bytes%s", ps->nfv + 1,
                    ps->max_field_bytes, quoted ? " (is a quote left open?)" : "");
    /* The scratch cap is the input's size, which a record can never exceed. */
    return sp_buf_add(&ps->scratch, s, n);
}

static int read_quoted(parser *ps, size_t rline)
{
    size_t off = ps->scratch.len;
    int rc;
    ps->p++; /* the opening quote */
    for (;;) {
        const unsigned char *q = ps->p;
        while (q < ps->end && *q != '"') {
            if (ends_line(q, ps->end))
                ps->line++;
            q++;
        }
        if ((rc = field_add(ps, rline, off, ps->p, (size_t)(q - ps->p), 1)) != 0)
            return rc;
        if (q == ps->end)
            return fail(ps, SP_EINVAL, rline,
                        "unterminated quoted field (field %zu opens a quote that never closes)",
                        ps->nfv + 1);
        if (q + 1 < ps->end && q[1] == '"') {
            if ((rc = field_add(ps, rline, off, q, 1, 1)) != 0)
                return rc;
            ps->p = q + 2;
            continue;
        }
        ps->p = q + 1;
        break;
    }
    if (ps->p < ps->end && *ps->p != (unsigned char)ps->delim && *ps->p != '\n' && *ps->p != '\r')
        return fail(ps, SP_EINVAL, rline,
                    "text after the closing quote of field %zu (write a quote inside a quoted "
                    "field as \"\")",
                    ps->nfv + 1);
    return 0;
}

static int read_unquoted(parser *ps, size_t rline)
{
    const unsigned char *q = ps->p;
    while (q < ps->end && *q != (unsigned char)ps->delim && *q != '\n' && *q != '\r') {
        if (*q == '"')
            return fail(ps, SP_EINVAL, rline,
                        "stray quote in unquoted field %zu (quote the whole field and write a "
                        "quote inside it as \"\")",
                        ps->nfv + 1);
        q++;
    }
    int rc = field_add(ps, rline, ps->scratch.len, ps->p, (size_t)(q - ps->p), 0);
    ps->p = q;
    return rc;
}

/*
 * Reads the next record into ps->fv / ps->scratch and sets *line to the line it starts on, or
 * sets *line to 0 at the end of the input. want is the header's field count (0 while reading
 * the header), used only to word the message when a record has too many fields.
 */
static int read_record(parser *ps, size_t want, size_t *line)
{
    int rc;
    *line = 0;
    while (ps->p < ps->end && (*ps->p == '\n' || *ps->p == '\r')) {
        if (ends_line(ps->p, ps->end))
            ps->line++;
        ps->p++;
    }
    if (ps->p == ps->end)
        return 0;
    size_t rline = ps->line;
    sp_buf_reset(&ps->scratch);
    ps->nfv = 0;
    for (;;) {
        if (ps->nfv == ps->max_fields) {
            if (want)
                return fail(ps, SP_EINVAL, rline, "more than %zu fields, the header has %zu",
                            ps->max_fields, want);
            return fail(ps, SP_ELIMIT, rline, "more than %zu fields", ps->max_fields);
        }
        size_t off = ps->scratch.len;
        /* p may be at the end of the input: a delimiter as the last byte ends an empty field. */
        if (ps->p < ps->end && *ps->p == '"')
            rc = read_quoted(ps, rline);
        else
            rc = read_unquoted(ps, rline);
        if (rc)
            return rc;
        sp_grow((void **)&ps->fv, &ps->fvcap, ps->nfv + 1, sizeof(ps->fv[0]));
        ps->fv[ps->nfv++] = (field){off, ps->scratch.len - off};
        if (ps->p < ps->end && *ps->p == (unsigned char)ps->delim) {
            ps->p++;
            continue;
        }
        break;
    }
    /* At the end of the input or of the line: consume the line end. */
    if (ps->p < ps->end) {
        if (*ps->p == '\r' && ps->p + 1 < ps->end && ps->p[1] == '\n')
            ps->p++;
        ps->p++;
        ps->line++;
    }
    *line = rline;
    return 0;
}

static int take_header(parser *ps, sp_csv *csv, size_t line)
{
    csv->fields = sp_calloc(ps->nfv + 1, sizeof(char *));
    csv->nfields = ps->nfv;
    for (size_t i = 0; i < ps->nfv; i++) {
        const char *s = ps->scratch.p + ps->fv[i].off;
        size_t n = ps->fv[i].len;
        while (n && (*s == ' ' || *s == '\t')) {
            s++;
            n--;
        }
        while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
            n--;
        if (n == 0)
            return fail(ps, SP_EINVAL, line, "column %zu of the header has no field name", i + 1);
        csv->fields[i] = sp_strndup(s, n);
        for (size_t j = 0; j < i; j++)
            if (strcmp(csv->fields[j], csv->fields[i]) == 0)
                return fail(ps, SP_EINVAL, line,
                            "column %zu of the header repeats the field name '%.*s' of column %zu",
                            i + 1, clip(csv->fields[i], CLIP_FIELD), csv->fields[i], j + 1);
    }
    return 0;
}

static int take_row(parser *ps, sp_csv *csv, size_t line)
{
    if (ps->nfv != csv->nfields)
        return fail(ps, SP_EINVAL, line, "%zu field%s, the header has %zu", ps->nfv,
                    ps->nfv == 1 ? "" : "s", csv->nfields);
    size_t nrows = json_array_size(csv->rows);
    if (nrows == ps->max_rows)
        return fail(ps, SP_ELIMIT, line, "more than %zu data rows", ps->max_rows);
    if ((nrows + 1) * csv->nfields > ps->max_cells)
        return fail(ps, SP_ELIMIT, line, "more than %zu cells (data rows times fields)",
                    ps->max_cells);
    json_t *obj = json_object();
    for (size_t i = 0; i < ps->nfv; i++) {
        /* The encoding was checked, so this only fails on out-of-memory. */
        json_t *v = json_stringn(ps->scratch.p + ps->fv[i].off, ps->fv[i].len);
        if (!v || json_object_set_new_nocheck(obj, csv->fields[i], v) != 0) { /* v: stolen */
            json_decref(obj);
            return fail(ps, SP_ESYS, line, "cannot store field %zu", i + 1);
        }
    }
    if (json_array_append_new(csv->rows, obj) != 0) /* obj: stolen */
        return fail(ps, SP_ESYS, line, "cannot store the row");
    return 0;
}

int sp_csv_parse(const char *buf, size_t len, const sp_csv_opts *opts, sp_csv **out,
                 sp_errlist *errs)
{
    static const sp_csv_opts defaults;
    if (!opts)
        opts = &defaults;
    parser ps = {
        .p = (const unsigned char *)buf,
        .end = (const unsigned char *)buf + len,
        .delim = opts->delimiter ? opts->delimiter : ',',
        .line = 1,
        .max_bytes = cap_or(opts->max_bytes, SP_CSV_MAX_BYTES),
        .max_rows = cap_or(opts->max_rows, SP_CSV_MAX_ROWS),
        .max_fields = cap_or(opts->max_fields, SP_CSV_MAX_FIELDS),
        .max_field_bytes = cap_or(opts->max_field_bytes, SP_CSV_MAX_FIELD_BYTES),
        .max_cells = cap_or(opts->max_cells, SP_CSV_MAX_CELLS),
        .name = opts->name,
        .errpath = opts->errpath,
        .errs = errs,
    };
    sp_buf_init(&ps.scratch, len);
    sp_csv *csv = sp_calloc(1, sizeof(*csv));
    csv->rows = json_array();
    size_t line;
    int rc;
    *out = NULL;

    if (ps.delim != ',' && ps.delim != ';' && ps.delim != '\t') {
        rc = fail(&ps, SP_EINVAL, 0, "the delimiter must be ',', ';' or a tab");
        goto out;
    }
    if (len > ps.max_bytes) {
        rc = fail(&ps, SP_ELIMIT, 0, "%zu bytes, more than the cap of %zu", len, ps.max_bytes);
        goto out;
    }
    if (len >= 2 &&
        ((ps.p[0] == 0xff && ps.p[1] == 0xfe) || (ps.p[0] == 0xfe && ps.p[1] == 0xff))) {
        rc = fail(&ps, SP_EINVAL, 0,
                  "the file is UTF-16 (it starts with a UTF-16 byte order mark); save it as UTF-8");
        goto out;
    }
    if (len >= 3 && ps.p[0] == 0xef && ps.p[1] == 0xbb && ps.p[2] == 0xbf)
        ps.p += 3;
    if ((rc = check_encoding(&ps)) != 0)
        goto out;

    if ((rc = read_record(&ps, 0, &line)) != 0)
        goto out;
    if (line == 0) {
        rc = fail(&ps, SP_EINVAL, 0,
                  "the file is empty; its first line must be a header of field names");
        goto out;
    }
    if ((rc = take_header(&ps, csv, line)) != 0)
        goto out;
    size_t header_line = line;
    for (;;) {
        if ((rc = read_record(&ps, csv->nfields, &line)) != 0)
            goto out;
        if (line == 0)
            break;
        if ((rc = take_row(&ps, csv, line)) != 0)
            goto out;
    }
    if (json_array_size(csv->rows) == 0) {
        rc = fail(&ps, SP_EINVAL, header_line, "the header has no data rows after it");
        goto out;
    }
    *out = csv;
    csv = NULL;
out:
    sp_csv_free(csv);
    sp_buf_release(&ps.scratch);
    free(ps.fv);
    return rc;
}

int sp_csv_load(const char *path, const sp_csv_opts *opts, sp_csv **out, sp_errlist *errs)
{
    static const sp_csv_opts defaults;
    if (!opts)
        opts = &defaults;
    sp_csv_opts o = *opts;
    if (!o.name)
        o.name = path;
    size_t max = cap_or(o.max_bytes, SP_CSV_MAX_BYTES);
    parser ps = {.name = o.name, .errpath = o.errpath, .errs = errs}; /* only for fail() */
    sp_buf data;
    sp_buf_init(&data, max);
    struct stat st;
    int rc = 0;
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        if (e == ENOENT)
            rc = fail(&ps, SP_ENOTFOUND, 0, "no such file");
        else
            rc = fail(&ps, SP_EIO, 0, "cannot open: %s", strerror(e));
        goto out;
    }
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = fail(&ps, SP_EIO, 0, "not a regular file");
        goto out;
    }
    if ((uintmax_t)st.st_size > max) {
        rc = fail(&ps, SP_ELIMIT, 0, "%jd bytes, more than the cap of %zu", (intmax_t)st.st_size,
                  max);
        goto out;
    }
    /* Read to the end rather than trusting st_size, which can change while we read. */
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (sp_buf_add(&data, chunk, n) != 0) {
            rc = fail(&ps, SP_ELIMIT, 0, "more than the cap of %zu bytes", max);
            goto out;
        }
    }
    if (ferror(f)) {
        rc = fail(&ps, SP_EIO, 0, "read error");
        goto out;
    }
    rc = sp_csv_parse(data.p, data.len, &o, out, errs);
out:
    if (f)
        fclose(f);
    sp_buf_release(&data);
    return rc;
}

void sp_csv_free(sp_csv *csv)
{
    if (!csv)
        return;
    if (csv->fields)
        for (size_t i = 0; i < csv->nfields; i++)
            free(csv->fields[i]);
    free(csv->fields);
    json_decref(csv->rows);
    free(csv);
}

const char *const *sp_csv_fields(const sp_csv *csv, size_t *nfields)
{
    if (nfields)
        *nfields = csv->nfields;
    return (const char *const *)csv->fields;
}

int sp_csv_has_field(const sp_csv *csv, const char *name)
{
    for (size_t i = 0; i < csv->nfields; i++)
        if (strcmp(csv->fields[i], name) == 0)
            return 1;
    return 0;
}

size_t sp_csv_nrows(const sp_csv *csv)
{
    return json_array_size(csv->rows);
}

const json_t *sp_csv_row(const sp_csv *csv, size_t i)
{
    return json_array_get(csv->rows, i); /* borrowed; NULL when out of range */
}

const json_t *sp_csv_rows(const sp_csv *csv)
{
    return csv->rows;
}

char sp_csv_delimiter_from_name(const char *name)
{
    static const struct {
        const char *name;
        char delim;
    } names[] = {
        {",", ','}, {"comma", ','}, {";", ';'}, {"semicolon", ';'}, {"\t", '\t'}, {"tab", '\t'},
    };
    for (size_t i = 0; i < SP_ARRAY_LEN(names); i++)
        if (strcmp(name, names[i].name) == 0)
            return names[i].delim;
    return 0;
}
