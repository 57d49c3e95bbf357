/*
 * export_private.h - what export.c (CSV, JUnit, distributions) and export_html.c (the HTML
 * report) share, and nothing else may use: output with a sticky failure, and reading numbers
 * and strings out of the store's JSON.
 */
#ifndef SP_EXPORT_PRIVATE_H
#define SP_EXPORT_PRIVATE_H

#include <jansson.h>
#include <stdarg.h>

#include "engine/common.h"

/* Output with a sticky failure: an add refused by the cap is remembered, so that a document
 * cut short is reported as too large instead of being sent with a hole in it. */
typedef struct wbuf {
    sp_buf *b;
    int failed;
} wbuf;

static inline void w_adds(wbuf *w, const char *s)
{
    if (sp_buf_adds(w->b, s) != 0)
        w->failed = 1;
}

static inline void w_addc(wbuf *w, char c)
{
    if (sp_buf_addc(w->b, c) != 0)
        w->failed = 1;
}

__attribute__((format(printf, 2, 3))) static inline void w_addf(wbuf *w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (sp_buf_vaddf(w->b, fmt, ap) != 0)
        w->failed = 1;
    va_end(ap);
}

/* A number of a JSON object, 0 when missing or not a number. */
static inline double num(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : 0.0;
}

/* A string of a JSON object, "" when missing. */
static inline const char *str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

#endif
