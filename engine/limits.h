/*
 * limits.h - every named cap in Stampede, in one place.
 *
 * Anything that grows with outside input (a definition, a REST body, a template, a target's
 * response) is bounded by one of these. A value here is the default; where a cap can be set
 * per test or per server, the option that sets it is named beside it.
 */
#ifndef SP_LIMITS_H
#define SP_LIMITS_H

/* Test definitions. */
#define SP_DEF_MAX_BYTES (4u << 20)   /* a definition document, bytes */
#define SP_DEF_MAX_DEPTH 32           /* JSON nesting of a definition or a REST body */
#define SP_DEF_MAX_USERS 64           /* user classes per definition */
#define SP_DEF_MAX_TASKS 256          /* tasks per user class */
#define SP_DEF_MAX_STEPS 256          /* steps per task or on_start */
#define SP_DEF_MAX_NAMES 1024         /* distinct request names per definition */
#define SP_DEF_MAX_VARS 256           /* distinct VU variables per user class */
#define SP_DEF_MAX_STAGES 256         /* load stages */
#define SP_DEF_MAX_THRESHOLDS 64      /* thresholds */
#define SP_DEF_MAX_FILE_PATH 1024     /* a data file's path in a definition */
#define SP_FILES_MAX_LIST 10000       /* data files listed by GET /api/v1/files */
#define SP_FILES_MAX_DEPTH 8          /* directory levels listed below DATA_DIR/files */
#define SP_DEF_MAX_VUS 200000         /* VUs in any stage */
#define SP_LAG_LATE_US 1000           /* an open-model arrival this late counts as late */
#define SP_OPEN_MAX_OVERDUE 100000000 /* overdue arrivals counted as dropped at a run's end */
#define SP_LAG_WARN_US 10000 /* timer lateness above which a run's summary blames the generator */
/* a second with a worker loop away longer than this is a generator stall */
#define SP_STALL_US 250000
#define SP_DEF_MAX_DURATION_S (7 * 86400) /* a run's total duration */

/* Templates. */
#define SP_TMPL_MAX_SOURCE (64u << 10) /* one template's source text */
#define SP_TMPL_MAX_HOLES 512          /* {{...}} expressions in one template */
#define SP_TMPL_MAX_RENDER (8u << 20)  /* one rendered template (a body) */

/* Expressions (engine/expr.h): in template holes, conditions, loop bounds and JSON path filters.
 * A definition may come from anyone who can save or validate one, so parsing and evaluating
 * are bounded whatever the expression and whatever the values it reads. */
#define SP_EXPR_MAX_LEN 4096  /* bytes of one expression */
#define SP_EXPR_MAX_NODES 512 /* operators, names and literals in one expression */
#define SP_EXPR_MAX_DEPTH 64  /* nesting: parentheses, calls, operands of operands */
/* work units of one evaluation (a node, 16 bytes or an array item scanned); past it the value is
 * null */
#define SP_EXPR_MAX_STEPS 100000
#define SP_EXPR_MAX_TEXT (1u << 20)    /* bytes of text one evaluation may build */
#define SP_EXPR_MAX_ARRAY 100000       /* items of an array built by joining (a + b) */
#define SP_EXPR_MAX_RANDOM_STRING 4096 /* random_string(n): n at most */
#define SP_EXPR_MAX_OWNED 16           /* arrays one evaluation may build */

/* JSON paths (engine/jsonpath.h). */
#define SP_JPATH_MAX_LEN 1024    /* bytes of one path */
#define SP_JPATH_MAX_SEGMENTS 64 /* keys, indexes, wildcards and filters in one path */

/* Control-flow steps (repeat, choose, group). */
#define SP_DEF_MAX_NESTING 8        /* repeat/choose/group inside one another */
#define SP_DEF_MAX_CLASS_STEPS 4096 /* steps of one user class, nested ones included */
#define SP_DEF_MAX_REPEAT 1000000   /* passes of one repeat (its max) */
#define SP_DEF_MAX_BRANCHES 64      /* branches of one choose */
/* steps a VU runs without sending a request before it lets the worker serve others */
#define SP_VU_MAX_LOCAL_STEPS 1000
/* VUs a worker starts or stops in one pass of its loop when the closed model's target changes
 * (worker.c) */
#define SP_VU_BATCH 16

/* Requests and responses. */
/* response bytes kept for extract/expect (per test: max_response_bytes) */
#define SP_RESP_KEEP_MAX (1u << 20)
#define SP_RESP_ABSOLUTE_MAX (64u << 20) /* the largest max_response_bytes a test may set */
#define SP_RESP_JSON_MAX (8u << 20)      /* response bytes parsed as JSON for expect/extract */
#define SP_RESP_JSON_MAX_DEPTH 256       /* JSON nesting of a response parsed for expect/extract */
#define SP_REQ_DEFAULT_TIMEOUT_MS 30000  /* total timeout of a request (per test/step: timeout) */
#define SP_REQ_CONNECT_TIMEOUT_MS 10000  /* connect timeout */
#define SP_REQ_MAX_REDIRS 5              /* redirects followed */
#define SP_VAR_MAX_BYTES (64u << 10)     /* one extracted variable's value */
/* a VU's first Set-Cookie value, read by the engine (curl reads the rest) */
#define SP_COOKIE_LINE_MAX 4096

/* Metrics. */
#define SP_FAIL_MSGS_PER_NAME 16 /* distinct failure messages kept per request name */
#define SP_FAIL_MSG_MAX 256      /* bytes of one failure message */
/* a JSON value quoted in a message is cut; a larger one is only sized */
#define SP_FAIL_VALUE_DUMP_MAX (64u << 10)
#define SP_STATUS_MAX 600 /* status codes 0..599 counted; others count as 0 */

/* CSV data files (feeders). Rows are Jansson objects shared by all workers; measured with
 * Jansson 2.14 they cost about 200 bytes per field plus 200 per row, so SP_CSV_MAX_CELLS is what
 * bounds a data file's memory (under 1 GB: e.g. a million rows of four fields). */
#define SP_CSV_MAX_BYTES (64u << 20)       /* a CSV file, bytes */
#define SP_CSV_MAX_ROWS 1000000            /* data rows (the header not counted) */
#define SP_CSV_MAX_FIELDS 256              /* fields per row, and columns in the header */
#define SP_CSV_MAX_FIELD_BYTES (64u << 10) /* one field's value after unquoting */
#define SP_CSV_MAX_CELLS 4000000           /* data rows times header fields */

/* REST server (server/http/http.c). */
#define SP_HTTP_MAX_BODY SP_DEF_MAX_BYTES  /* a request body: a test definition is the largest */
#define SP_HTTP_MAX_DEPTH SP_DEF_MAX_DEPTH /* JSON nesting of a REST body */
#define SP_HTTP_MAX_RESPONSE (16u << 20)   /* one JSON response (a definition with its metadata) */
#define SP_HTTP_THREADS 4                  /* libmicrohttpd worker threads (the thread pool) */
#define SP_HTTP_CONN_LIMIT 1024            /* open connections in all (split among the threads) */
/* open connections from one address: 100 clients behind one proxy, each with a spare connection */
#define SP_HTTP_PER_IP_LIMIT 256
#define SP_HTTP_CONN_TIMEOUT_S 30       /* an idle connection is closed after this */
#define SP_HTTP_CONN_MEMORY (32u << 10) /* per-connection read buffer (libmicrohttpd's default) */
#define SP_HTTP_MAX_PARAMS 4            /* :params in one route pattern */
#define SP_HTTP_MAX_QUERY_ARGS 64       /* query arguments of one request (414 beyond them) */
#define SP_HTTP_MAX_HEADERS 8           /* extra response headers set by one handler */
#define SP_HTTP_MAX_LOG_VALUE 256       /* bytes of one value in a log line */
#define SP_API_PER_PAGE_MAX 200         /* items in one page of a list (?per_page=) */
#define SP_API_MAX_QUERY 200            /* bytes of a name filter (?q=) */
#define SP_API_CHECKPOINT_S 30          /* seconds between WAL checkpoints of the database */
#define SP_SERVE_STOP_GRACE_MS 20000    /* SIGTERM: requests in flight get this long */

/* Target allowlist (engine/allowlist.h) and secrets in definitions. */
#define SP_ALLOW_MAX_ENTRIES 256     /* entries in a target allowlist */
#define SP_ALLOW_MAX_ENTRY 300       /* bytes of one entry ("[v6/128]:65535", a host name) */
#define SP_ALLOW_MAX_ADDRS 16        /* addresses kept per host-name entry once resolved */
#define SP_DEF_MAX_SECRETS 64        /* secrets per definition */
#define SP_DEF_MAX_SECRET_BYTES 4096 /* one secret's value */
/* shorter values are not masked (engine/mask.h), nor the start of a value cut short after fewer
 * bytes */
#define SP_MASK_MIN_BYTES 4

/* Error lists. */
#define SP_ERRLIST_MAX 100 /* validation errors reported per document */

/* Live stream (server/live/live.h; the sp_live_opts field that overrides a default is named). */
#define SP_LIVE_DEFAULT_PORT 8485            /* --live-port */
#define SP_LIVE_MAX_SUBSCRIBERS 256          /* open live connections (max_subscribers) */
#define SP_LIVE_QUEUE_MAX_BYTES (1u << 20)   /* unsent points per client (queue_max_bytes) */
#define SP_LIVE_QUEUE_MAX_MSGS 1024          /* the same in messages (queue_max_msgs) */
#define SP_LIVE_MSG_MAX_BYTES (1u << 20)     /* one published second */
#define SP_LIVE_BACKLOG_MAX_BYTES (8u << 20) /* one run-so-far message */
#define SP_LIVE_INBOX_MAX 8192     /* published messages not yet taken by the service thread */
#define SP_LIVE_CLIENT_MSG_MAX 512 /* one message from a client (a subscribe) */
#define SP_LIVE_CLIENT_BAD_MAX 3   /* bad client messages before the connection is closed */
#define SP_LIVE_HEADER_MAX 8192    /* one request header read for the auth hook */
#define SP_LIVE_ORIGINS_MAX 64     /* allowed origins or host names */
#define SP_LIVE_TIMEOUT_S 10       /* network round trips (timeout_secs) */
#define SP_LIVE_PING_S 30          /* idle seconds before a ping */
#define SP_LIVE_HANGUP_S 75        /* idle seconds before the connection is dropped */
#define SP_LIVE_FRAGMENT_BYTES (16u << 10) /* bytes written per writeable event */
#define SP_LIVE_STOP_GRACE_MS 500          /* sp_live_free waits this long for close frames */
#define SP_LIVE_DROP_GRACE_S 2             /* a dropped client's socket is closed after this */

/* Run manager (server/runs/runs.h; the `stampede serve` option that sets a cap is named). */
#define SP_RUNS_MAX_VUS 10000        /* VUs of any stage or target (--max-vus) */
#define SP_RUNS_MAX_DURATION_S 86400 /* a run's planned duration (--max-duration) */
#define SP_RUNS_MAX_RATE 100000      /* open model, iterations/s (--max-rate) */
#define SP_RUNS_MAX_CONCURRENT 4     /* runs going at once (--max-runs) */
#define SP_RUNS_ENGINE_THREADS 2     /* worker threads per run in the daemon */
/* a run across agents starts this far ahead, so that every agent has its share by then */
#define SP_RUNS_AGENT_LEAD_MS 500
#define SP_RUNS_COMPARE_MAX 10               /* runs in one comparison */
#define SP_RUNS_EXPORT_MAX_BYTES (64u << 20) /* one export document */
#define SP_RUNS_LOST_RANGES 16    /* runs of lost seconds a run names (the rest counted) */
#define SP_RUNS_LOST_MINUTES 16   /* minute histograms a run names as lost */
#define SP_RUNS_END_RETRY_MS 1000 /* the end of a run waits for disk space this often */

/* Access control (server/auth/auth.h). */
#define SP_AUTH_SESSION_TTL_S 43200            /* a session's life: 12 h (Max-Age of the cookie) */
#define SP_AUTH_PASSWORD_MIN 8                 /* bytes of a password, at least */
#define SP_AUTH_PASSWORD_MAX 256               /* bytes of a password, at most */
#define SP_AUTH_NAME_MAX 63                    /* bytes of a user or token name */
#define SP_AUTH_TOKENS_PER_USER 100            /* live (not revoked) API tokens of one user */
#define SP_AUTH_TOKEN_MAX_TTL_S (3660 * 86400) /* expires_in_s of a token, at most (10 years) */
#define SP_AUTH_RL_SLOTS 4096                  /* login counters (pairs, addresses, user names) */
#define SP_AUTH_RL_WINDOW_S 60                 /* the window the failures below are counted in */
#define SP_AUTH_RL_FAILURES 5                  /* failures of one user from one address, then 429 */
#define SP_AUTH_RL_ADDR_FAILURES 20            /* failures from one address (any names), then 429 */
#define SP_AUTH_RL_USER_FAILURES 10            /* failures of one user (any address), then ... */
#define SP_AUTH_RL_USER_GAP_MS 1000            /* ... one password check of that user a second */
#define SP_AUTH_HASH_CONCURRENCY 2             /* Argon2id hashes computed at once */
#define SP_AUTH_PWHASH_MEM (64u << 20)  /* memory of one Argon2id hash (libsodium interactive) */
#define SP_AUTH_MAX_COOKIE 8192         /* bytes of a Cookie header parsed */
#define SP_AUTH_MAX_SERVER_NAMES 12     /* --server-name options (4 live origins each) */
#define SP_AUTH_AUDIT_VALUE_MAX 1024    /* bytes of one audit field */
#define SP_AUTH_AUDIT_PAGE_MAX 1000     /* entries in one GET /api/v1/audit */
#define SP_AUTH_AUDIT_DENIED_PER_S 50   /* refused requests audited per second, sustained */
#define SP_AUTH_AUDIT_DENIED_BURST 2000 /* ... and in a burst */

/* curl import (server/import/curlimport.h). */
#define SP_CURL_IMPORT_MAX (256u << 10) /* a pasted curl command, bytes */
#define SP_CURL_IMPORT_MAX_TOKENS 4096  /* words in one curl command */

/* HAR and OpenAPI import (server/import/harimport.h, server/import/oasimport.h). A document reaches
 * them as a REST body, so SP_HTTP_MAX_BODY and SP_HTTP_MAX_DEPTH bound them first; a document sent
 * as a string inside {"document": "..."} is held to the caps below. */
#define SP_IMPORT_MAX_BYTES SP_HTTP_MAX_BODY /* one HAR or OpenAPI document, bytes */
#define SP_IMPORT_MAX_DEPTH 64               /* JSON nesting of a document sent as a string */
#define SP_HAR_MAX_ENTRIES 5000              /* entries in one HAR log */
/* response bytes searched for a token a later request sends */
#define SP_HAR_CORRELATE_MAX (256u << 10)
#define SP_HAR_CORRELATE_LEAVES 2000           /* string values looked at per response */
#define SP_OAS_MAX_OPERATIONS SP_DEF_MAX_STEPS /* operations imported from one document */
#define SP_OAS_REF_DEPTH 16            /* nested $ref and schema levels followed for an example */
#define SP_OAS_EXAMPLE_MAX (64u << 10) /* one generated example body, bytes of JSON */

/* "Try it" (engine/trace.h, POST /api/v1/tests/:id/try). */
#define SP_TRY_MAX_MS 30000            /* a whole try, ms: requests still going are aborted */
#define SP_TRY_BODY_MAX (64u << 10)    /* bytes of each request and response body shown */
#define SP_TRY_HEADERS_MAX (16u << 10) /* bytes of each request's and response's headers shown */
#define SP_TRY_MAX_REQUESTS 1024       /* requests reported by one try */
#define SP_TRY_MAX_CONCURRENT 2        /* tries going at once on one server */

/* Regular expressions (engine/regex.h): a pattern is compiled once, and each match against a
 * response is bounded in time and memory whatever the pattern and the body. */
#define SP_REGEX_MAX_LEN 4096   /* bytes of one pattern */
#define SP_REGEX_MAX_NESTING 64 /* nested parentheses in one pattern */
/* memory compiling one pattern, compiled code included */
#define SP_REGEX_MAX_COMPILE_BYTES (512 << 10)
#define SP_REGEX_MAX_GROUPS 9        /* the highest capture group an extract may name */
#define SP_REGEX_MATCH_LIMIT 1000000 /* PCRE2 match limit (and depth limit) per match: time */
#define SP_REGEX_HEAP_LIMIT_KB 8192  /* PCRE2 backtracking memory per match, KB */
#define SP_REGEX_JIT_STACK_BYTES (512 << 10) /* the JIT's stack, per worker thread */

/* Schedules (server/sched/): cron expressions, time zones, the scheduler. */
#define SP_SCHED_CRON_MAX 256       /* bytes of a cron expression */
#define SP_SCHED_PER_TEST 32        /* schedules of one test */
#define SP_SCHED_MAX 1000           /* schedules on one server */
#define SP_SCHED_NEXT_SHOWN 5       /* next fire times shown when a schedule is saved */
#define SP_SCHED_HORIZON_DAYS 3700  /* a cron expression must fire within ~10 years */
#define SP_SCHED_LATE_S 60          /* a fire time handled later than this was missed */
#define SP_SCHED_CATCHUP_MAX 100000 /* missed fire times counted after a stop */
#define SP_SCHED_FIRES_KEPT 200     /* fire records kept per schedule (older ones go) */
#define SP_TZ_MAX_NAME 64           /* bytes of a time zone name */
#define SP_TZ_MAX_FILE (256u << 10) /* bytes of a zoneinfo file */
#define SP_TZ_MAX_TRANSITIONS 8192  /* transitions of one zone */
#define SP_TZ_MAX_RULE 128          /* bytes of a POSIX TZ rule (a zoneinfo footer) */

/* Webhooks (server/notify/): deliveries never hold up a run or each other. */
#define SP_NOTIFY_MAX_HOOKS 64             /* webhooks on one server */
#define SP_NOTIFY_URL_MAX 2048             /* bytes of a webhook's URL */
#define SP_NOTIFY_SECRET_MIN 16            /* bytes of a secret an admin gives, at least */
#define SP_NOTIFY_SECRET_MAX 256           /* ... and at most */
#define SP_NOTIFY_BODY_MAX (64u << 10)     /* one delivery's body */
#define SP_NOTIFY_CONNECT_TIMEOUT_MS 5000  /* connecting to a receiver */
#define SP_NOTIFY_TIMEOUT_MS 10000         /* one attempt, from connect to the last byte */
#define SP_NOTIFY_RESPONSE_MAX (16u << 10) /* bytes of a receiver's answer read (then cut off) */
#define SP_NOTIFY_INFLIGHT 16              /* attempts going at once */
#define SP_NOTIFY_INFLIGHT_PER_HOOK 2      /* attempts going at once to one webhook */
#define SP_NOTIFY_BACKOFF_MS 10000 /* the first retry waits this long, each next twice as long */
#define SP_NOTIFY_BACKOFF_MAX_MS 600000 /* ... but never longer than this */
#define SP_NOTIFY_RETRY_FOR_MS 3600000  /* no new attempt this long after the first */
#define SP_NOTIFY_MAX_ATTEMPTS 10       /* attempts per delivery */
#define SP_NOTIFY_QUEUE_MAX 4096        /* run events waiting for the delivery thread */
#define SP_NOTIFY_LOG_KEPT 1000         /* deliveries kept per webhook (older ones go) */
#define SP_NOTIFY_ERROR_MAX 256         /* bytes of a delivery's last error kept */

/* Agents (engine/wire.h, server/agents/): every agent message is outside input. */
#define SP_WIRE_MAX_BYTES (16u << 20)  /* one agent message (an assign carries a definition) */
#define SP_WIRE_MAX_DEPTH 40           /* JSON nesting of an agent message (a definition inside) */
#define SP_WIRE_MAX_NAME 64            /* bytes of an agent's name or location */
#define SP_WIRE_MAX_VERSION 64         /* bytes of an agent's version string */
#define SP_WIRE_MAX_REASON 256         /* bytes of a refuse or bye reason */
#define SP_WIRE_MAX_BUCKETS (1u << 20) /* histogram buckets in one second message, all names */
#define SP_WIRE_MAX_STATUS 600         /* status code entries per name in one second */
#define SP_WIRE_MAX_LOCATIONS 64       /* locations of one run */
#define SP_WIRE_MAX_AGENTS 1024        /* agents connected to one server */
#define SP_WIRE_CLOCK_SAMPLES 8        /* clock samples kept; the one with the least RTT counts */

#endif
