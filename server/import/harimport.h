/*
 * harimport.h - turns a HAR 1.2 recording (a browser's "Save all as HAR") into a test
 * definition: one user class with one task holding one step per recorded request, in the
 * recording's order.
 *
 * What is kept and what is not:
 *   - static assets are left out: images, fonts, stylesheets, scripts and media, known by the
 *     response's MIME type, the path's extension or the browser's resource type; so are
 *     requests to origins other than the base URL's (unless keep_other_origins), and data:,
 *     blob: and WebSocket URLs. Each one left out is listed with the reason;
 *   - the base URL is the most common origin among the kept requests (or opts->base_url, which
 *     then replaces that origin); requests to it get relative URLs;
 *   - names group requests by path pattern: "GET /api/v1/products/:id", where numeric ids,
 *     UUIDs and long hex or opaque tokens become ":id" (importutil.h);
 *   - volatile headers are dropped (cookies, hop-by-hop and transport headers, conditional
 *     request headers, request ids and tracing headers, browser hints: sec-*, pseudo-headers),
 *     and so is a Content-Type implied by the body kind;
 *   - bodies are kept: JSON as "json", URL-encoded forms as "form", multipart as "multipart",
 *     anything else as "body" with its Content-Type;
 *   - a token that a request sends in a header and that an earlier JSON response held (a login's
 *     access_token) becomes a variable: the earlier step extracts it and the header uses it,
 *     so the test logs in for itself instead of replaying an expired token;
 *   - text that would read as a template ("{{") is escaped.
 *
 * Threads: no global state; any thread may call it.
 */
#ifndef SP_HARIMPORT_H
#define SP_HARIMPORT_H

#include <jansson.h>
#include <stddef.h>

#include "engine/common.h"

typedef struct sp_har_opts {
    const char *name;       /* the test's name; NULL: "Recorded: <host>" */
    const char *base_url;   /* NULL: the most common origin of the recording */
    int keep_other_origins; /* keep requests to other origins, with absolute URLs */
} sp_har_opts;

/*
 * Imports har (borrowed: a parsed HAR document). On success returns 0, *def (a new reference:
 * a definition in docs/test-format.md's format) and *skipped (a new reference: an array of
 * {"entry", "method", "url", "reason"} for each request left out) and *notes (a new reference:
 * an array of strings saying what the test may need, e.g. a session cookie that was dropped).
 * On failure returns SP_EINVAL (a field that is missing, of the wrong type or unusable) or
 * SP_ELIMIT (more than SP_HAR_MAX_ENTRIES entries, or more kept requests than a task holds),
 * sets the outputs to NULL and adds errors to errs, each naming the field
 * ("log.entries[3].request.url") and why.
 */
int sp_har_import(const json_t *har, const sp_har_opts *opts, json_t **def, json_t **skipped,
                  json_t **notes, sp_errlist *errs);

#endif
