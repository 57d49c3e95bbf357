/*
 * def_walk.h - the walk that validates and compiles a test definition: its context and the
 * helpers its parts share. Private to the definition loader (definition.h is the API); the
 * walk is split by the document's shape:
 *     definition.c   loading, overrides, depth, the top level, options, sp_def_free
 *     def_users.c    user classes: variables (first pass), tasks, think time, data files
 *     def_request.c  steps: conditions, lets, requests, expectations, extractions
 *     def_load.c     the load profile, stop_when and thresholds
 *     def_walk.c     the helpers below: paths and errors, validators, typed members
 *
 * Every compile function takes the walk's context c, whose path names the value being looked at
 * ("users[0].tasks[2]"): a function that descends into a member pushes it (sp_dw_path_key or
 * sp_dw_path_index, which return a mark) and pops back to the mark (sp_dw_path_pop) before it
 * returns. Errors are reported at the current path and never stop the walk (definition.c says
 * why); a compile function fills what it can and leaves counts that describe only initialised
 * entries, so that the _free functions can tear down a partial result.
 *
 * Jansson references: every json_t here is borrowed from the definition's document; the
 * functions that create, steal or take a reference say so where they do it.
 *
 * Threads: one walk runs on one thread; walks share nothing.
 */
#ifndef SP_DEF_WALK_H
#define SP_DEF_WALK_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/common.h"
#include "engine/definition.h"

/* Small structural caps of the format itself. They keep error messages and request names
 * readable; the document's size cap bounds everything else. */
#define NAME_MAX_LEN 256 /* a request, task or user class name */
#define METHOD_MAX_LEN 32
#define HEADER_NAME_MAX 256
#define MULTIPART_MAX 64   /* parts of one multipart body */
#define RATE_MAX 1000000.0 /* arrivals per second in an open-model stage */
#define WEIGHT_MAX 1000000
#define PATH_MAX_BYTES 1024 /* an error's path */
#define ERRLEN 512

/* The walk's context. */
typedef struct sp_dw {
    sp_errlist *errs;
    sp_buf path; /* "users[0].tasks[2]" for the value being looked at */
    sp_def *def;
    json_t *empty;        /* an empty object standing in for a missing data section (owned) */
    sp_scope scope;       /* what templates may name right now */
    const char *base;     /* validated base_url without trailing '/', or NULL */
    const char *base_dir; /* where data files are found; NULL: none may be read */
    int confined;         /* data files only below base_dir, named by relative paths */
    size_t nest;          /* control steps (repeat, choose, group) around the step being read */
    size_t class_steps;   /* steps of the user class read so far, nested ones included */
} sp_dw;

/* ---- def_walk.c: paths and errors ---- */

/* Appends .key ([i]) to the path; returns the mark to pop back to. */
size_t sp_dw_path_key(sp_dw *c, const char *key);
size_t sp_dw_path_index(sp_dw *c, size_t i);
void sp_dw_path_pop(sp_dw *c, size_t mark);
/* Reports an error at the current path (at path.key for sp_dw_err_key). Messages are cut at
 * ERRLEN bytes. */
void sp_dw_err(sp_dw *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sp_dw_err_key(sp_dw *c, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* "expected WANT, got a string" */
void sp_dw_err_type(sp_dw *c, const char *want, const json_t *got);
void sp_dw_err_missing(sp_dw *c, const char *key);
/* "an object", "a number", ...: a JSON type for messages (static string). */
const char *sp_dw_type_name(const json_t *v);
/* Reports every member of obj not in allowed[0..n), with a suggestion when one is near. */
void sp_dw_check_fields(sp_dw *c, const json_t *obj, const char *const *allowed, size_t n);

/* ---- def_walk.c: small validators ---- */

/* A variable or data list name: letters, digits and '_', not first a digit, at most 64. */
int sp_dw_is_ident(const char *s);
/* Names the template language gives a meaning of its own. */
int sp_dw_is_reserved(const char *s);
/* RFC 9110 token characters (methods, header names), 1 to max of them. */
int sp_dw_is_token(const char *s, size_t max);
/* 0 when s has spaces or control characters outside {{holes}}: never valid in a URL. */
int sp_dw_url_chars_ok(const char *s);
/* Length of the scheme when s starts with "scheme://" (before any '/', '?', '{'), else 0. */
size_t sp_dw_url_scheme_len(const char *s);
/* 1 when s[0..n) is http or https (any case). */
int sp_dw_is_http_scheme(const char *s, size_t n);
/* sp_tmpl_free that takes NULL. */
void sp_dw_tfree(sp_tmpl *t);

/* ---- def_walk.c: durations and typed members (all references borrowed) ---- */

/* A duration value (a string with units, or a number of milliseconds) at the current path:
 * 0 and *ms, or -1 after reporting. */
int sp_dw_duration(sp_dw *c, const json_t *v, int64_t *ms);
/* An optional duration member: 1 when present and valid, 0 when absent, -1 after reporting. */
int sp_dw_get_duration(sp_dw *c, const json_t *obj, const char *key, uint32_t *out, int allow_zero);
/* An optional or required string member; NULL when absent or of the wrong type (reported). The
 * string is borrowed from the document. */
const char *sp_dw_get_str(sp_dw *c, const json_t *obj, const char *key, int required);
/* An optional boolean member; def when absent, -1 after reporting a wrong type. */
int sp_dw_get_bool(sp_dw *c, const json_t *obj, const char *key, int def);
/* An optional integer member in [lo, hi]: 1 when present and valid, 0 absent, -1 reported. */
int sp_dw_get_int(sp_dw *c, const json_t *obj, const char *key, int64_t lo, int64_t hi,
                  int64_t *out);
/* The text of a scalar used as a template source: strings as written, numbers and booleans as
 * JSON writes them. A new string (free() it), or NULL after reporting another type. */
char *sp_dw_scalar_text(sp_dw *c, const json_t *v);
/* Compiles src with esc against c->scope; NULL after reporting at the current path. */
sp_tmpl *sp_dw_tmpl(sp_dw *c, const char *src, sp_esc esc);
/* Compiles an expression (a condition, a count) against c->scope; NULL after reporting. */
sp_expr *sp_dw_expr(sp_dw *c, const char *src, size_t n);
/* For a text field that is not a template: when s holds "{{", reports at path.key (the current
 * path when key is NULL) that the field is not a template, with hint saying where a template
 * would go, and returns 1; else 0. */
int sp_dw_no_tmpl(sp_dw *c, const char *s, const char *key, const char *hint);
/* 1 when a JSON value holds a string with "{{" anywhere inside it. */
int sp_dw_json_has_hole(const json_t *v);
/* A template member given as a string (or number/boolean). NULL when absent or invalid. */
sp_tmpl *sp_dw_get_tmpl(sp_dw *c, const json_t *obj, const char *key, sp_esc esc);

/* ---- def_walk.c: variables and headers ---- */

/* The slot of variable name in the class, or -1. */
int sp_dw_var_slot(const sp_userclass *uc, const char *name);
/* Compiles {name: template} into *out (new array, *n entries). *has_ctype (when not NULL) is
 * set when a Content-Type is among them. */
void sp_dw_headers(sp_dw *c, const json_t *v, sp_hdr **out, size_t *n, int *has_ctype);
void sp_dw_headers_free(sp_hdr *h, size_t n);

/* ---- def_request.c: steps ---- */

/* Compiles one step into st (a plain step, or a repeat, choose or group with the steps inside
 * it), numbering the class's request plans (uc->nplans) and recording its nesting (uc->depth).
 * shorthand: v is a task written as a single step, whose task fields the caller checks. */
void sp_dw_step(sp_dw *c, sp_userclass *uc, const json_t *v, sp_step *st, int shorthand);
/* Compiles an array of steps (on_start, on_stop or a task's steps) into *out, *n of them. */
void sp_dw_steps(sp_dw *c, sp_userclass *uc, const json_t *v, sp_step **out, size_t *n,
                 int allow_empty);
/* Compiles the non-empty array of steps of a repeat, a group or a branch. */
void sp_dw_block(sp_dw *c, sp_userclass *uc, const json_t *v, sp_block *b);
void sp_dw_step_free(sp_step *st);

/* ---- def_users.c: user classes ---- */

/* Compiles the users array into c->def->users. While a class compiles, c->scope holds its
 * variables and CSV fields; after it, nothing of the class. */
void sp_dw_users(sp_dw *c, const json_t *users);
void sp_dw_user_free(sp_userclass *uc);

/* ---- def_load.c: load profile and verdicts ---- */

void sp_dw_load(sp_dw *c, const json_t *v, sp_load *L);
/* load.stop_when into c->def->load; after the users, so that conditions may name requests. */
void sp_dw_stop_when(sp_dw *c, const json_t *v);
/* thresholds into c->def; after the users, so that a threshold may name any request. */
void sp_dw_thresholds(sp_dw *c, const json_t *v);

#endif
