/*
 * definition.h - a test definition, loaded from JSON, validated, and compiled for the engine.
 *
 * sp_def_load() parses a JSON document (bounded in size and depth), applies overrides, checks
 * everything (unknown fields with "did you mean", types, templates, data lists, load profile,
 * thresholds) and either returns a fully compiled sp_def or fills an sp_errlist with every error
 * it found, each naming the path of the field ("users[0].tasks[2].steps[0].request.url") and
 * the reason. Nothing is half-built: on error *out is NULL. docs/test-format.md is the user's
 * reference for the format.
 *
 * Everything the engine needs per request is compiled here: templates, expressions, JSON paths,
 * regexes, request and group names (interned to ids), absolute URLs (base_url joined at load,
 * or at run time for a URL that starts with a hole, which may render an absolute URL).
 *
 * Steps nest: a step is a plain step (if, let, request, expect, extract, set_headers) or a
 * control step (repeat, choose, group) holding blocks of steps, at most SP_DEF_MAX_NESTING deep.
 * Every plain step with a request has a plan index, unique in its user class, for the engine's
 * per-class request plans.
 *
 * Threads: a loaded sp_def is immutable; any number of engine threads read it at once. It must
 * outlive every engine that uses it.
 */
#ifndef SP_DEFINITION_H
#define SP_DEFINITION_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/common.h"
#include "engine/csv.h"
#include "engine/feeder.h"
#include "engine/jsonpath.h"
#include "engine/mask.h"
#include "engine/regex.h"
#include "engine/template.h"
#include "engine/threshold.h"

typedef enum sp_think_kind {
    SP_THINK_NONE,     /* no wait between tasks */
    SP_THINK_CONSTANT, /* min_ms after each task */
    SP_THINK_BETWEEN,  /* uniform in [min_ms, max_ms] after each task */
    SP_THINK_PACING,   /* each task starts min_ms after the previous one started (if it can) */
} sp_think_kind;

typedef struct sp_think {
    sp_think_kind kind;
    uint32_t min_ms;
    uint32_t max_ms;
} sp_think;

/* A header: a validated name (HTTP token characters) and a value template (SP_ESC_HEADER). */
typedef struct sp_hdr {
    char *name;
    sp_tmpl *value;
} sp_hdr;

typedef enum sp_body_kind {
    SP_BODY_NONE,
    SP_BODY_RAW,       /* "body": a text template, sent as is */
    SP_BODY_JSON,      /* "json": any JSON value, strings templated */
    SP_BODY_FORM,      /* "form": object of fields, sent url-encoded */
    SP_BODY_MULTIPART, /* "multipart": fields and files */
} sp_body_kind;

/* A multipart part: a field (filename NULL) or a file with inline content. */
typedef struct sp_part {
    char *name;
    sp_tmpl *value;     /* field value, or the file's content */
    char *filename;     /* NULL for a plain field */
    char *content_type; /* NULL: text/plain for fields, application/octet-stream for files */
    char *head;         /* the part's header lines and the blank line after them, as sent
                           before its value (names escaped as a browser escapes them) */
    size_t head_len;
} sp_part;

typedef struct sp_request {
    char *method; /* upper-case HTTP token: GET, POST, ... */
    sp_tmpl *url; /* absolute URL (base_url joined, query appended, values encoded), or, when
                     join_at_run, the URL as written (query appended) */
    const char *join_base; /* join_at_run: base_url (borrowed from the definition), NULL when
                              the test has none */
    int join_at_run;       /* the URL starts with a hole: when it renders to an absolute
                              http(s):// URL it is sent as is, else it is joined to base_url */
    int name_id;           /* index in sp_def.names; "METHOD /path" when no name was given */
    sp_hdr *headers;
    size_t nheaders;
    sp_body_kind body_kind;
    sp_tmpl *body;      /* RAW, JSON (renders JSON text), FORM (renders a=b&c=d) */
    char *content_type; /* from the body kind, unless this request's own headers set one
                           (then NULL, and that header is sent); NULL for NONE and for
                           MULTIPART (libcurl's mime API writes multipart/form-data with
                           its boundary). A Content-Type sent by the request, by its body
                           kind or by libcurl replaces one from the definition, class or
                           set_headers. */
    sp_part *parts;     /* MULTIPART */
    size_t nparts;
    uint32_t timeout_ms; /* total timeout of this request */
} sp_request;

typedef enum sp_jcheck_kind {
    SP_JCHECK_EXISTS,
    SP_JCHECK_MISSING,
    SP_JCHECK_EQUALS
} sp_jcheck_kind;

typedef struct sp_jcheck {
    char *path_src; /* as written, for messages */
    sp_jpath *path;
    sp_jcheck_kind kind;
    json_t *equals;    /* owned; EQUALS with a value that is not a string (json_equal) */
    sp_tmpl *equals_t; /* EQUALS with a string: a template; one hole compares with the value's
                          own type, other text compares as text */
} sp_jcheck;

typedef struct sp_expect {
    uint16_t *status; /* allowed statuses; none given: any status below 400 passes */
    size_t nstatus;
    sp_jcheck *json;
    size_t njson;
    sp_tmpl *body_contains;  /* NULL: no check */
    uint32_t max_latency_ms; /* 0: no check */
    sp_tmpl *message;        /* failure message template (may use {{status}}); NULL: default */
} sp_expect;

typedef enum sp_extract_kind {
    SP_EXTRACT_JSON,
    SP_EXTRACT_HEADER,
    SP_EXTRACT_REGEX
} sp_extract_kind;

/* Extraction into a VU variable. Runs only when the response met its expectations; a value
 * that is not found unsets the variable (it is not a failure). */
typedef struct sp_extract {
    int slot; /* VU variable slot in the user class */
    sp_extract_kind kind;
    sp_jpath *path; /* JSON */
    sp_take take;   /* JSON: which match (first, last, random, all, count) */
    char *header;   /* HEADER: name, matched case-insensitively */
    sp_regex *re;   /* REGEX: compiled once (engine/regex.h), over the body */
    int group;      /* REGEX: capture group, 0 = whole match */
} sp_extract;

/* let: evaluated before the step's request. A template that is one hole keeps its value's
 * type; a JSON number, boolean, array or object written in the definition is that value. */
typedef struct sp_let {
    int slot;
    sp_tmpl *value;    /* NULL when lit is used */
    const json_t *lit; /* borrowed from the document: a value that is not a string; json null
                          unsets the variable */
} sp_let;

typedef enum sp_cond_kind {
    SP_COND_ALWAYS,
    SP_COND_VAR_SET,    /* the variable is set and not empty */
    SP_COND_VAR_EQUALS, /* the variable's text equals `equals` */
    SP_COND_STATUS,     /* the VU's last status is in status[] */
    SP_COND_EXPR,       /* an expression ("cart.total > 0") is true */
} sp_cond_kind;

/* A step's condition ("if"); negate inverts it ("unless"). A step whose condition is false is
 * skipped entirely. */
typedef struct sp_cond {
    sp_cond_kind kind;
    int negate;
    int slot;
    char *equals;
    uint16_t *status;
    size_t nstatus;
    sp_expr *expr; /* SP_COND_EXPR */
} sp_cond;

typedef enum sp_step_kind {
    SP_STEP_PLAIN,  /* if -> let -> request -> expect -> extract -> set_headers */
    SP_STEP_REPEAT, /* its body, a number of times or while an expression holds, at most max */
    SP_STEP_CHOOSE, /* one of its branches, picked by weight */
    SP_STEP_GROUP,  /* its body, timed as a whole under the group's name */
} sp_step_kind;

struct sp_step;

/* A sequence of steps: on_start, a task, on_stop, a loop's or a group's body, a branch. */
typedef struct sp_block {
    struct sp_step *steps;
    size_t nsteps;
} sp_block;

typedef struct sp_branch {
    char *name;      /* optional label, NULL when none */
    uint32_t weight; /* >= 1 */
    sp_block body;
} sp_branch;

/* One step. Any kind may have a condition (if/unless); the rest depends on the kind. */
typedef struct sp_step {
    sp_step_kind kind;
    sp_cond cond;
    /* SP_STEP_REPEAT */
    sp_expr *count;    /* evaluated once when the loop starts; NULL: count_lit or while */
    int64_t count_lit; /* a count written as a number; -1 when none */
    sp_expr *while_;   /* evaluated before each pass; NULL: a counted loop */
    uint32_t max;      /* passes at most (a literal count is its own bound) */
    int index_slot;    /* variable holding the pass number (0-based), or -1 */
    /* SP_STEP_REPEAT and SP_STEP_GROUP */
    sp_block body;
    int group_id; /* SP_STEP_GROUP: index in sp_def.names (kind SP_NAME_GROUP) */
    /* SP_STEP_CHOOSE */
    sp_branch *branches;
    size_t nbranches;
    uint64_t total_weight;
    /* SP_STEP_PLAIN */
    int plan; /* with a request: its plan index in the user class, else -1 */
    sp_let *lets;
    size_t nlets;
    sp_request *req; /* NULL: a step with no request (only let / set_headers) */
    sp_expect expect;
    sp_extract *extracts;
    size_t nextracts;
    sp_hdr *set_headers; /* VU-level headers set for the VU's later requests (same name
                            replaces, an empty value removes); applied when the request
                            passed, or always for a step with no request */
    size_t nset_headers;
} sp_step;

typedef struct sp_task {
    char *name;      /* optional label, NULL when none */
    uint32_t weight; /* >= 1 */
    sp_step *steps;
    size_t nsteps;
} sp_task;

typedef struct sp_userclass {
    char *name;
    uint32_t weight; /* share of VUs, >= 1 */
    sp_think think;
    sp_hdr *headers; /* class headers, on top of the definition's */
    size_t nheaders;
    sp_step *on_start; /* run once when a VU starts */
    size_t non_start;
    sp_step *on_stop; /* run once when a VU is stopped gracefully (after its on_start ran) */
    size_t non_stop;
    size_t nplans;  /* plain steps with a request, nested ones included (plan indexes) */
    uint32_t depth; /* the deepest nesting of control steps (0: none) */
    sp_task *tasks; /* picked at random by weight, one per iteration */
    size_t ntasks;
    uint64_t total_weight; /* sum of task weights */
    char **vars;           /* VU variable names; index = slot */
    size_t nvars;
    size_t nstart_vars;  /* slots [0, nstart_vars) are assigned in on_start and live as long
                            as the VU; slots [nstart_vars, nvars) are assigned only by tasks
                            and are unset when each iteration starts, so a value extracted
                            in one iteration never leaks into the next */
    sp_csv *csv;         /* data_file: the class's CSV rows (owned), NULL when none; its
                            header is the scope of {{row.NAME}} in the class's templates */
    sp_feeder_opts feed; /* how the class's VUs take rows (feeder.h) */
} sp_userclass;

typedef enum sp_load_model { SP_LOAD_CLOSED, SP_LOAD_OPEN } sp_load_model;

/* A stage moves the target linearly from the previous stage's target (0 before the first)
 * to this one's over duration_ms; a stage of duration 0 jumps. */
typedef struct sp_stage {
    uint32_t duration_ms;
    double target; /* VUs (closed) or iterations per second (open) */
} sp_stage;

typedef struct sp_load {
    sp_load_model model;
    sp_stage *stages;
    size_t nstages;
    uint32_t max_vus;  /* open model: the VU pool's size */
    uint64_t total_ms; /* sum of stage durations */
    /* stop_when: the run stops gracefully as soon as any condition holds over the last
     * stop_window_s seconds (conditions in the threshold grammar, e.g. "error_rate > 5%"). */
    sp_threshold *stop_when;
    size_t nstop_when;
    uint32_t stop_window_s;
    /* A run across agents (server/agents): {"near": 60, "far": 40}, integer percents adding up
     * to 100 (borrowed from doc); NULL: the server's own engine. */
    const json_t *locations;
    int abort_on_agent_loss; /* on_agent_loss "abort": a lost agent stops the run */
} sp_load;

/* options.http_version: which HTTP the VUs speak (engine.md, "HTTP versions"). */
typedef enum sp_http_version {
    SP_HTTP_1_1 = 0, /* "1.1" (default): HTTP/1.1 only, ALPN never offers h2 */
    SP_HTTP_2,       /* "2": HTTP/2 only: ALPN for https://, prior knowledge (h2c) for http:// */
    SP_HTTP_AUTO,    /* "auto": HTTP/2 where TLS ALPN offers it, else HTTP/1.1 */
} sp_http_version;

typedef struct sp_options {
    uint32_t timeout_ms; /* default total timeout per request */
    uint32_t connect_timeout_ms;
    uint32_t max_response_bytes; /* response bytes kept; a larger response fails as too_large */
    uint32_t graceful_stop_ms;   /* how long a graceful stop waits for requests in flight */
    int follow_redirects;
    int insecure; /* skip TLS peer verification: only when the test says so */
    int cookies;  /* each VU keeps its own cookie jar (default on) */
    sp_http_version http_version;
} sp_options;

/* What a name in sp_def.names counts. */
typedef enum sp_name_kind {
    SP_NAME_REQUEST = 0, /* requests of that name */
    SP_NAME_GROUP = 1,   /* a group of steps, timed as a whole (never in the run's totals) */
} sp_name_kind;

typedef struct sp_def {
    json_t *doc; /* the parsed, overridden document (owned); data is borrowed from it */
    char *name;
    char *base_url;
    sp_hdr *headers; /* default headers for every request */
    size_t nheaders;
    sp_userclass *users;
    size_t nusers;
    uint64_t total_weight; /* sum of user class weights */
    sp_load load;
    sp_threshold *thresholds;
    size_t nthresholds;
    char **names;        /* request and group names; index = name id */
    uint8_t *name_kinds; /* [nnames] sp_name_kind */
    size_t nnames;
    sp_options opts;
    const char **secrets; /* the values of "secrets" (borrowed from doc) */
    size_t nsecrets;
    /* The values of "secrets" in every form they may be shown in, for whatever leaves the engine
     * (mask.h; owned). NULL when no value is long enough to be masked. */
    sp_mask *mask;
} sp_def;

/* Command-line or REST overrides, applied to the document before validation. */
typedef struct sp_overrides {
    int64_t users;        /* > 0: one stage holding this many VUs (with duration_ms) */
    int64_t duration_ms;  /* > 0: total duration (stages cut or the last one extended) */
    const char *base_url; /* non-NULL: replaces base_url */
    const char *stages;   /* non-NULL: a JSON array replacing load.stages */
} sp_overrides;

#define SP_OVERRIDES_NONE                                                                          \
    {                                                                                              \
        0, 0, NULL, NULL                                                                           \
    }

/*
 * Loads a definition from text (len bytes, need not be NUL-terminated). base_dir is where
 * relative file paths in it (CSV data files) are resolved (absolute ones are read as they are);
 * NULL means no file may be read, and a definition naming one is refused. A definition sent over
 * the network must not read the server's files: the server uses sp_def_load_confined(). On
 * success returns 0
 * and *out owns the definition; on failure returns SP_EINVAL (or SP_ELIMIT for size), *out is
 * NULL and errs holds every error found.
 */
int sp_def_load(const char *text, size_t len, const sp_overrides *ov, const char *base_dir,
                sp_def **out, sp_errlist *errs);
/*
 * sp_def_load() for definitions that come over the network (the server): CSV data files are
 * read only below files_dir, named by relative paths without "." or ".." components; an
 * absolute path, one that leaves files_dir (also through a symbolic link) or a missing file is
 * refused without naming the server's paths. files_dir NULL: none may be read.
 */
int sp_def_load_confined(const char *text, size_t len, const sp_overrides *ov,
                         const char *files_dir, sp_def **out, sp_errlist *errs);
/* A data file path sp_def_load_confined() accepts: relative, at most SP_DEF_MAX_FILE_PATH
 * bytes, with no empty, "." or ".." component. */
int sp_def_file_path_ok(const char *file);
/* Whether path, with every symbolic link resolved, is a regular file below dir. */
int sp_def_file_below(const char *path, const char *dir);
/* The same from a file; a missing or unreadable file is one error naming it. */
int sp_def_load_file(const char *path, const sp_overrides *ov, sp_def **out, sp_errlist *errs);
void sp_def_free(sp_def *def);

/*
 * Parses a duration: "500ms", "30s", "2m", "1h", "1d", combinations in decreasing order
 * ("1h30m", "1m30s"), decimals ("1.5s"), and "0". A number without a unit is refused (except 0)
 * because "60" could mean seconds or milliseconds. On success returns 0 and *ms; SP_EINVAL on a
 * malformed value or one above SP_DEF_MAX_DURATION_S. Used by the loader and by the CLI's
 * --duration.
 */
int sp_parse_duration_ms(const char *s, int64_t *ms);

#endif
