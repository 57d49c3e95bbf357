/*
 * errors.h - the error codes of the server's layers, beyond the engine's (engine/common.h,
 * which stop at -6). Each is an outcome a client is told about; http/http.c's one table maps
 * every code to an HTTP status and the error body's "code" (sp_http_error_status()).
 *
 * The storage's failures are three codes, from the SQL kit (store/sql.h) up through the store,
 * the accounts and the run manager unchanged: SP_EFULL (the disk is full: 503 "disk_full"),
 * SP_EUNAVAILABLE (busy past the busy timeout, or cannot be opened: 503 "unavailable") and
 * SP_EIO (anything else: 500 "internal").
 */
#ifndef SP_BASE_ERRORS_H
#define SP_BASE_ERRORS_H

#include "engine/common.h"

enum {
    SP_EJSON = -64,        /* 400 invalid_json: malformed, duplicate keys, too deep */
    SP_EUNAUTH = -65,      /* 401 unauthorized: no or bad credentials */
    SP_EFORBIDDEN = -66,   /* 403 forbidden: known client, not allowed */
    SP_EMETHOD = -67,      /* 405 method_not_allowed */
    SP_EMEDIA = -68,       /* 415 unsupported_media_type */
    SP_EDEFINITION = -69,  /* 422 invalid_definition: well-formed JSON, invalid test */
    SP_EUNAVAILABLE = -70, /* 503 unavailable: the database cannot be reached, or another
                              writer held it past the busy timeout */
    SP_EFULL = -71,        /* 503 disk_full: the disk holding the data directory is full (or
                              over its quota): nothing can be written until space is freed */
    SP_ETOOMANY = -75,     /* 429 too_many_requests: rate limited (send Retry-After) */
    SP_EURI = -76,         /* 414 uri_too_long: more query arguments than SP_HTTP_MAX_QUERY_ARGS */
    SP_ENOTIMPL = -77,     /* 501 not_implemented: a transfer coding other than chunked */
};

#endif
