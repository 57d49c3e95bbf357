/*
 * test_csv.c - the CSV reader: quoting, line ends, BOM, delimiters, every error with its line
 * number, the caps, and loading from a file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "engine/common.h"
#include "engine/csv.h"

static sp_errlist errs;
static char errtext[4096];

/* Parses src (a C string, or n bytes when n is not 0) and keeps the error text in errtext. */
static int parse_n(const char *src, size_t n, const sp_csv_opts *opts, sp_csv **out)
{
    sp_errlist_release(&errs);
    sp_errlist_init(&errs);
    int rc = sp_csv_parse(src, n, opts, out, &errs);
    sp_buf b;
    sp_buf_init(&b, sizeof errtext - 1);
    sp_errlist_format(&errs, &b);
    snprintf(errtext, sizeof errtext, "%s", b.p);
    sp_buf_release(&b);
    return rc;
}

static int parse(const char *src, const sp_csv_opts *opts, sp_csv **out)
{
    return parse_n(src, strlen(src), opts, out);
}

static const char *cell(const sp_csv *csv, size_t row, const char *field)
{
    return json_string_value(json_object_get(sp_csv_row(csv, row), field));
}

static size_t cell_len(const sp_csv *csv, size_t row, const char *field)
{
    return json_string_length(json_object_get(sp_csv_row(csv, row), field));
}

/* Expects parsing src to fail with rc and an error text containing want. */
static int fails(const char *src, const sp_csv_opts *opts, int rc, const char *want)
{
    sp_csv *csv = (sp_csv *)1;
    int got = parse(src, opts, &csv);
    if (got != rc || csv != NULL || !strstr(errtext, want)) {
        fprintf(stderr, "    input %s\n    rc %d (want %d), error \"%s\" (want \"%s\")\n", src, got,
                rc, errtext, want);
        sp_csv_free(csv == (sp_csv *)1 ? NULL : csv);
        return 0;
    }
    return 1;
}

static void test_simple(void)
{
    sp_csv *csv;
    CHECK_INT_EQ(parse("email,password\na@x.com,pw1\nb@x.com,pw2\n", NULL, &csv), 0);
    size_t n;
    const char *const *f = sp_csv_fields(csv, &n);
    CHECK_UINT_EQ(n, 2);
    CHECK_STR_EQ(f[0], "email");
    CHECK_STR_EQ(f[1], "password");
    CHECK(f[2] == NULL);
    CHECK_UINT_EQ(sp_csv_nrows(csv), 2);
    CHECK_UINT_EQ(json_array_size(sp_csv_rows(csv)), 2);
    CHECK_STR_EQ(cell(csv, 0, "email"), "a@x.com");
    CHECK_STR_EQ(cell(csv, 1, "password"), "pw2");
    CHECK_UINT_EQ(json_object_size(sp_csv_row(csv, 1)), 2);
    CHECK(sp_csv_row(csv, 2) == NULL);
    CHECK(sp_csv_has_field(csv, "email"));
    CHECK(!sp_csv_has_field(csv, "Email"));
    CHECK(!sp_csv_has_field(csv, ""));
    sp_csv_free(csv);
}

static void test_trailing_newline_or_not(void)
{
    static const char *const srcs[] = {"a,b\n1,2",       "a,b\n1,2\n", "a,b\r\n1,2",
                                       "a,b\r\n1,2\r\n", "a,b\r1,2\r", "a,b\n1,2\n\n\n"};
    for (size_t i = 0; i < SP_ARRAY_LEN(srcs); i++) {
        sp_csv *csv;
        CHECK_INT_EQ(parse(srcs[i], NULL, &csv), 0);
        CHECK_UINT_EQ(sp_csv_nrows(csv), 1);
        CHECK_STR_EQ(cell(csv, 0, "a"), "1");
        CHECK_STR_EQ(cell(csv, 0, "b"), "2");
        sp_csv_free(csv);
    }
}

static void test_quotes(void)
{
    sp_csv *csv;
    CHECK_INT_EQ(parse("name,quote,empty\n"
                       "\"Chen, Sarah\",\"She said \"\"hi\"\"\",\"\"\n"
                       "\"multi\nline\r\nvalue\",\"\"\"\",\n",
                       NULL, &csv),
                 0);
    CHECK_UINT_EQ(sp_csv_nrows(csv), 2);
    CHECK_STR_EQ(cell(csv, 0, "name"), "Chen, Sarah");
    CHECK_STR_EQ(cell(csv, 0, "quote"), "She said \"hi\"");
    CHECK_STR_EQ(cell(csv, 0, "empty"), "");
    CHECK_STR_EQ(cell(csv, 1, "name"), "multi\nline\r\nvalue");
    CHECK_STR_EQ(cell(csv, 1, "quote"), "\"");
    CHECK_STR_EQ(cell(csv, 1, "empty"), "");
    sp_csv_free(csv);
}

static void test_empty_fields(void)
{
    sp_csv *csv;
    CHECK_INT_EQ(parse("a,b,c\n,,\n1,,3\n,\"\",\n", NULL, &csv), 0);
    CHECK_UINT_EQ(sp_csv_nrows(csv), 3);
    for (size_t r = 0; r < 3; r++)
        CHECK_STR_EQ(cell(csv, r, "b"), "");
    CHECK_STR_EQ(cell(csv, 0, "a"), "");
    CHECK_STR_EQ(cell(csv, 1, "c"), "3");
    CHECK_STR_EQ(cell(csv, 2, "c"), "");
    sp_csv_free(csv);
    /* A delimiter as the very last byte ends an empty last field. */
    CHECK_INT_EQ(parse("a,b\n1,", NULL, &csv), 0);
    CHECK_STR_EQ(cell(csv, 0, "a"), "1");
    CHECK_STR_EQ(cell(csv, 0, "b"), "");
    sp_csv_free(csv);
    CHECK_INT_EQ(parse("a\tb\n\t", &(sp_csv_opts){.delimiter = '\t'}, &csv), 0);
    CHECK_STR_EQ(cell(csv, 0, "b"), "");
    sp_csv_free(csv);
    /* One column: a blank line is skipped, "" is an empty value. */
    CHECK_INT_EQ(parse("a\n1\n\n\"\"\n2\n", NULL, &csv), 0);
    CHECK_UINT_EQ(sp_csv_nrows(csv), 3);
    CHECK_STR_EQ(cell(csv, 1, "a"), "");
    CHECK_STR_EQ(cell(csv, 2, "a"), "2");
    sp_csv_free(csv);
}

static void test_spaces_kept_in_values_trimmed_in_header(void)
{
    sp_csv *csv;
    CHECK_INT_EQ(parse(" email ,\tpassword\n  a  , b\t\n", NULL, &csv), 0);
    CHECK(sp_csv_has_field(csv, "email"));
    CHECK(sp_csv_has_field(csv, "password"));
    CHECK_STR_EQ(cell(csv, 0, "email"), "  a  ");
    CHECK_STR_EQ(cell(csv, 0, "password"), " b\t");
    sp_csv_free(csv);
}

static void test_bom_and_utf8(void)
{
    sp_csv *csv;
    CHECK_INT_EQ(
        parse("\xef\xbb\xbfname,city\nJos\xc3\xa9,\xe6\x9d\xb1\xe4\xba\xac \xf0\x9f\x9a\x80\n",
              NULL, &csv),
        0);
    CHECK(sp_csv_has_field(csv, "name"));
    CHECK_STR_EQ(cell(csv, 0, "name"), "Jos\xc3\xa9");
    CHECK_STR_EQ(cell(csv, 0, "city"), "\xe6\x9d\xb1\xe4\xba\xac \xf0\x9f\x9a\x80");
    sp_csv_free(csv);
}

static void test_delimiters(void)
{
    sp_csv *csv;
    sp_csv_opts o = {.delimiter = ';'};
    CHECK_INT_EQ(parse("a;b\n1,5;\"x;y\"\n", &o, &csv), 0);
    CHECK_STR_EQ(cell(csv, 0, "a"), "1,5");
    CHECK_STR_EQ(cell(csv, 0, "b"), "x;y");
    sp_csv_free(csv);
    o.delimiter = '\t';
    CHECK_INT_EQ(parse("a\tb\n1, 2\t\"3\t4\"\r\n", &o, &csv), 0);
    CHECK_STR_EQ(cell(csv, 0, "a"), "1, 2");
    CHECK_STR_EQ(cell(csv, 0, "b"), "3\t4");
    sp_csv_free(csv);
    o.delimiter = '|';
    CHECK(fails("a|b\n1|2\n", &o, SP_EINVAL, "the delimiter must be"));
    CHECK_INT_EQ(sp_csv_delimiter_from_name("tab"), '\t');
    CHECK_INT_EQ(sp_csv_delimiter_from_name(";"), ';');
    CHECK_INT_EQ(sp_csv_delimiter_from_name("comma"), ',');
    CHECK_INT_EQ(sp_csv_delimiter_from_name("|"), 0);
}

static void test_embedded_nul_in_length(void)
{
    /* The buffer is taken by length; a NUL inside is an encoding error, not an end. */
    sp_csv *csv;
    CHECK_INT_EQ(parse_n("a\nx\0y\n", 6, NULL, &csv), SP_EINVAL);
    CHECK_STR_CONTAINS(errtext, "line 2, column 2: NUL byte");
    /* Not NUL-terminated: only len bytes are read. */
    CHECK_INT_EQ(parse_n("a\nxyz", 4, NULL, &csv), 0);
    CHECK_STR_EQ(cell(csv, 0, "a"), "xy");
    sp_csv_free(csv);
}

static void test_errors_with_line_numbers(void)
{
    CHECK(fails("a,b,c,d\n1,2,3,4\n\n1,2,3\n", NULL, SP_EINVAL,
                "line 4: 3 fields, the header has 4"));
    CHECK(fails("a,b\n1,2,3\n", NULL, SP_EINVAL, "line 2: 3 fields, the header has 2"));
    CHECK(fails("a,b\n1\n", NULL, SP_EINVAL, "line 2: 1 field, the header has 2"));
    /* A record's line is where it starts, after quoted line breaks of earlier records. */
    CHECK(fails("a,b\n\"x\ny\nz\",1\r\n\"p\rq\",2\nlast\n", NULL, SP_EINVAL,
                "line 7: 1 field, the header has 2"));
    CHECK(fails("a,b\n1,2\n3,\"open\n4,5\n", NULL, SP_EINVAL,
                "line 3: unterminated quoted field (field 2"));
    CHECK(fails("a,b\n1,2\nab\"c,3\n", NULL, SP_EINVAL, "line 3: stray quote in unquoted field 1"));
    CHECK(fails("a,b\n1, \"2\"\n", NULL, SP_EINVAL, "line 2: stray quote in unquoted field 2"));
    CHECK(fails("a,b\n\"1\"x,2\n", NULL, SP_EINVAL,
                "line 2: text after the closing quote of field 1"));
    CHECK(fails("a,,c\n1,2,3\n", NULL, SP_EINVAL,
                "line 1: column 2 of the header has no field name"));
    CHECK(fails("a,b, \n1,2,3\n", NULL, SP_EINVAL,
                "line 1: column 3 of the header has no field name"));
    CHECK(fails("\n\nid,name, id\n1,2,3\n", NULL, SP_EINVAL,
                "line 3: column 3 of the header repeats the field name 'id' of column 1"));
    CHECK(fails("", NULL, SP_EINVAL, "the file is empty"));
    CHECK(fails("\xef\xbb\xbf\r\n\n", NULL, SP_EINVAL, "the file is empty"));
    CHECK(fails("\n\na,b\n", NULL, SP_EINVAL, "line 3: the header has no data rows"));
    CHECK(
        fails("a\n1\n\xc3\x28\n", NULL, SP_EINVAL, "line 3, column 1: invalid UTF-8 (byte 0xc3)"));
    CHECK(fails("a\n\xc3\xa9\xc3\xa9\xff\n", NULL, SP_EINVAL,
                "line 2, column 3: invalid UTF-8 (byte 0xff)"));
    /* An overlong form, a surrogate, a code point above U+10FFFF, a truncated sequence. */
    CHECK(fails("a\n\xc0\xaf\n", NULL, SP_EINVAL, "line 2, column 1: invalid UTF-8"));
    CHECK(fails("a\n\xed\xa0\x80\n", NULL, SP_EINVAL, "line 2, column 1: invalid UTF-8"));
    CHECK(fails("a\n\xf4\x90\x80\x80\n", NULL, SP_EINVAL, "line 2, column 1: invalid UTF-8"));
    CHECK(fails("a\n\xe6\x9d\n", NULL, SP_EINVAL, "line 2, column 1: invalid UTF-8"));
    CHECK(fails("\xff\xfe=", NULL, SP_EINVAL, "UTF-16"));
    CHECK(fails("\xfe\xff=", NULL, SP_EINVAL, "UTF-16"));
}

static void test_error_prefix_and_path(void)
{
    sp_csv *csv;
    sp_csv_opts o = {.name = "users.csv", .errpath = "users[0].data.file"};
    CHECK_INT_EQ(parse("a,b\n1,2\n3\n", &o, &csv), SP_EINVAL);
    CHECK(csv == NULL);
    CHECK_UINT_EQ(errs.n, 1);
    CHECK_STR_EQ(errs.v[0].path, "users[0].data.file");
    CHECK_STR_EQ(errs.v[0].msg, "users.csv: line 3: 1 field, the header has 2");
    /* No error list: still fails cleanly. */
    CHECK_INT_EQ(sp_csv_parse("a,b\n1\n", 6, NULL, &csv, NULL), SP_EINVAL);
    CHECK(csv == NULL);
}

static void test_long_names_are_clipped_in_messages(void)
{
    sp_csv *csv;
    sp_buf b, name;
    sp_buf_init(&b, 1 << 20);
    sp_buf_init(&name, 1 << 20);
    /* A duplicate field name of 1000 two-byte characters, and a long file name. */
    for (int i = 0; i < 1000; i++)
        sp_buf_adds(&b, "\xc3\xa9");
    char *first = sp_strdup(b.p);
    sp_buf_addf(&b, ",%s\n1,2\n", first);
    free(first);
    for (int i = 0; i < 2000; i++)
        sp_buf_adds(&name, "d/");
    sp_csv_opts o = {.name = name.p};
    CHECK_INT_EQ(parse(b.p, &o, &csv), SP_EINVAL);
    CHECK_UINT_EQ(errs.n, 1);
    CHECK_STR_CONTAINS(errs.v[0].msg, "d/d/...: line 1: column 2 of the header repeats the "
                                      "field name '\xc3\xa9");
    CHECK_STR_CONTAINS(errs.v[0].msg, "\xc3\xa9' of column 1");
    /* The message is valid UTF-8 (a clipped name is cut between characters). */
    json_t *js = json_string(errs.v[0].msg);
    CHECK(js != NULL);
    json_decref(js);
    sp_buf_release(&b);
    sp_buf_release(&name);
}

static void test_caps_from_opts(void)
{
    sp_csv *csv;
    sp_csv_opts o = {.max_rows = 2};
    CHECK_INT_EQ(parse("a\n1\n2\n", &o, &csv), 0);
    sp_csv_free(csv);
    CHECK(fails("a\n1\n2\n3\n", &o, SP_ELIMIT, "line 4: more than 2 data rows"));
    o = (sp_csv_opts){.max_fields = 3};
    CHECK(fails("a,b,c,d\n1,2,3,4\n", &o, SP_ELIMIT, "line 1: more than 3 fields"));
    CHECK(fails("a,b\n1,2,3,4\n", &o, SP_EINVAL, "line 2: more than 3 fields, the header has 2"));
    o = (sp_csv_opts){.max_field_bytes = 4};
    CHECK_INT_EQ(parse("a\n\"a\"\"bc\"\n", &o, &csv), 0); /* 4 bytes after unquoting */
    CHECK_STR_EQ(cell(csv, 0, "a"), "a\"bc");
    sp_csv_free(csv);
    CHECK(fails("a,b\n1,12345\n", &o, SP_ELIMIT, "line 2: field 2 is longer than 4 bytes"));
    CHECK(fails("a,b\n1,\"12\n345\"\n", &o, SP_ELIMIT,
                "line 2: field 2 is longer than 4 bytes (is a quote left open?)"));
    o = (sp_csv_opts){.max_cells = 6};
    CHECK_INT_EQ(parse("a,b,c\n1,2,3\n4,5,6\n", &o, &csv), 0);
    sp_csv_free(csv);
    CHECK(fails("a,b,c\n1,2,3\n4,5,6\n7,8,9\n", &o, SP_ELIMIT,
                "line 4: more than 6 cells (data rows times fields)"));
    o = (sp_csv_opts){.max_bytes = 8};
    CHECK_INT_EQ(parse("a\n123456", &o, &csv), 0);
    sp_csv_free(csv);
    CHECK(fails("a\n1234567", &o, SP_ELIMIT, "9 bytes, more than the cap of 8"));
    /* A cap above the limits.h one is lowered to it. */
    o = (sp_csv_opts){.max_fields = SP_CSV_MAX_FIELDS * 2};
    sp_buf b;
    sp_buf_init(&b, 1 << 20);
    for (int i = 0; i <= SP_CSV_MAX_FIELDS; i++)
        sp_buf_addf(&b, "%sf%d", i ? "," : "", i);
    sp_buf_adds(&b, "\n");
    CHECK(fails(b.p, &o, SP_ELIMIT, "line 1: more than 256 fields"));
    sp_buf_release(&b);
}

static void test_caps_from_limits(void)
{
    sp_csv *csv;
    sp_buf b;
    sp_buf_init(&b, 1 << 20);
    /* SP_CSV_MAX_FIELDS fields are fine. */
    for (int i = 0; i < SP_CSV_MAX_FIELDS; i++)
        sp_buf_addf(&b, "%sf%d", i ? "," : "", i);
    sp_buf_adds(&b, "\n");
    for (int i = 0; i < SP_CSV_MAX_FIELDS; i++)
        sp_buf_addf(&b, "%s%d", i ? "," : "", i);
    CHECK_INT_EQ(parse(b.p, NULL, &csv), 0);
    CHECK_STR_EQ(cell(csv, 0, "f255"), "255");
    sp_csv_free(csv);
    /* A field of SP_CSV_MAX_FIELD_BYTES is fine, one byte more is not. */
    sp_buf_reset(&b);
    sp_buf_adds(&b, "id,blob\n1,");
    for (size_t i = 0; i < SP_CSV_MAX_FIELD_BYTES; i++)
        sp_buf_addc(&b, 'x');
    CHECK_INT_EQ(parse(b.p, NULL, &csv), 0);
    CHECK_UINT_EQ(cell_len(csv, 0, "blob"), SP_CSV_MAX_FIELD_BYTES);
    sp_csv_free(csv);
    sp_buf_addc(&b, 'x');
    CHECK(fails(b.p, NULL, SP_ELIMIT, "line 2: field 2 is longer than 65536 bytes"));
    sp_buf_release(&b);
    /* The byte cap is checked before anything is read (the zeroed pages are never touched). */
    char *big = sp_calloc((size_t)SP_CSV_MAX_BYTES + 1, 1);
    int rc = parse_n(big, (size_t)SP_CSV_MAX_BYTES + 1, NULL, &csv);
    free(big);
    CHECK_INT_EQ(rc, SP_ELIMIT);
    CHECK_STR_CONTAINS(errtext, "more than the cap of 67108864");
}

static void test_many_rows(void)
{
    /* 100,000 rows parse, in order, with the right line numbers for an error at the end. */
    enum { N = 100000 };
    sp_buf b;
    sp_buf_init(&b, 8 << 20);
    sp_buf_adds(&b, "n,sq\n");
    for (int i = 0; i < N; i++)
        sp_buf_addf(&b, "%d,\"%d\"\n", i, i * 2);
    sp_csv *csv;
    CHECK_INT_EQ(parse(b.p, NULL, &csv), 0);
    CHECK_UINT_EQ(sp_csv_nrows(csv), N);
    CHECK_STR_EQ(cell(csv, N - 1, "n"), "99999");
    CHECK_STR_EQ(cell(csv, N - 1, "sq"), "199998");
    sp_csv_free(csv);
    sp_buf_adds(&b, "x\n");
    CHECK(fails(b.p, NULL, SP_EINVAL, "line 100002: 1 field, the header has 2"));
    sp_buf_release(&b);
}

static void test_load_file(void)
{
    char path[] = "/tmp/sp_test_csv_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    const char *text = "\xef\xbb\xbf"
                       "email;password\r\n\"a;b@x.com\";p1\r\n";
    CHECK_INT_EQ(write(fd, text, strlen(text)), (long long)strlen(text));
    close(fd);
    sp_csv *csv;
    sp_csv_opts o = {.delimiter = ';'};
    sp_errlist_release(&errs);
    CHECK_INT_EQ(sp_csv_load(path, &o, &csv, &errs), 0);
    CHECK_STR_EQ(cell(csv, 0, "email"), "a;b@x.com");
    sp_csv_free(csv);
    /* Errors are prefixed with the path. */
    o.delimiter = ',';
    CHECK_INT_EQ(sp_csv_load(path, &o, &csv, &errs), SP_EINVAL);
    CHECK(csv == NULL);
    CHECK_UINT_EQ(errs.n, 1);
    CHECK_STR_CONTAINS(errs.v[0].msg, path);
    CHECK_STR_CONTAINS(errs.v[0].msg, ": line 2: text after the closing quote of field 1");
    sp_errlist_release(&errs);
    o.max_bytes = 10;
    CHECK_INT_EQ(sp_csv_load(path, &o, &csv, &errs), SP_ELIMIT);
    CHECK_STR_CONTAINS(errs.v[0].msg, "more than the cap of 10");
    unlink(path);
    sp_errlist_release(&errs);
    o = (sp_csv_opts){.errpath = "users[1].data"};
    CHECK_INT_EQ(sp_csv_load(path, &o, &csv, &errs), SP_ENOTFOUND);
    CHECK(csv == NULL);
    CHECK_STR_EQ(errs.v[0].path, "users[1].data");
    CHECK_STR_CONTAINS(errs.v[0].msg, path);
    CHECK_STR_CONTAINS(errs.v[0].msg, "no such file");
    sp_errlist_release(&errs);
    CHECK_INT_EQ(sp_csv_load("/tmp", NULL, &csv, &errs), SP_EIO);
    CHECK_STR_CONTAINS(errs.v[0].msg, "/tmp: not a regular file");
    sp_errlist_release(&errs);
}

int main(void)
{
    sp_errlist_init(&errs);
    RUN(test_simple);
    RUN(test_trailing_newline_or_not);
    RUN(test_quotes);
    RUN(test_empty_fields);
    RUN(test_spaces_kept_in_values_trimmed_in_header);
    RUN(test_bom_and_utf8);
    RUN(test_delimiters);
    RUN(test_embedded_nul_in_length);
    RUN(test_errors_with_line_numbers);
    RUN(test_error_prefix_and_path);
    RUN(test_long_names_are_clipped_in_messages);
    RUN(test_caps_from_opts);
    RUN(test_caps_from_limits);
    RUN(test_many_rows);
    RUN(test_load_file);
    sp_errlist_release(&errs);
    return check_summary();
}
