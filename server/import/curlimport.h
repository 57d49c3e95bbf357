/*
 * curlimport.h - turns a curl command line (a browser's "Copy as cURL (bash)") into a step.
 *
 * The command is split into words the way bash would for the quoting browsers emit: single
 * quotes, double quotes with backslash escapes, $'...' ANSI-C quoting, backslash escapes and
 * backslash-newline continuations. No expansion happens ($VAR, globs and command substitution
 * stay literal). The first word must be `curl`; the options that describe a request (URL,
 * method, headers, data, form parts, user, cookie, user agent, referer, -G) are read, a few
 * that only change curl's own output or transport are ignored, and any other option is
 * refused by name. Options that read local files (-d @file, -F name=@file, -b file) are
 * refused: the server never reads a path named by a client.
 *
 * The result is one step, {"request": {...}}, in docs/test-format.md's format, with one body
 * kind: "json" (a JSON Content-Type and data that parses), "form" (URL-encoded data, fields
 * decoded), "multipart" (-F) or "body" (anything else). A Content-Type header implied by the
 * body kind is dropped. Text that looks like a template hole ({{) is escaped so that it is sent
 * as written.
 *
 * Threads: no global state; any thread may call it.
 */
#ifndef SP_CURLIMPORT_H
#define SP_CURLIMPORT_H

#include <jansson.h>
#include <stddef.h>

#include "engine/common.h"

/*
 * Parses cmd (len bytes, need not be NUL-terminated). On success returns 0 and sets *step to a
 * new reference owned by the caller. On failure returns SP_EINVAL (a word or option that cannot
 * be imported) or SP_ELIMIT (more than SP_CURL_IMPORT_MAX bytes or SP_CURL_IMPORT_MAX_TOKENS
 * words), sets *step to NULL and adds at least one error to errs, with the path "command" and a
 * message naming the word or option and why.
 */
int sp_curl_import(const char *cmd, size_t len, json_t **step, sp_errlist *errs);

#endif
