/*
 * serve.c - `stampede serve`: the daemon.
 *
 * Threads: the main thread parses options, opens the store, starts the HTTP server (whose
 * worker threads libmicrohttpd owns) and then only waits for SIGINT or SIGTERM with
 * sigwait(). The signals are blocked before any thread starts, so every thread inherits the
 * mask and none of them is interrupted; nothing runs in a signal handler. On a signal the
 * main thread stops the HTTP server (which waits for requests in progress), checkpoints and
 * closes the store, and returns 0. While waiting it checkpoints the store's WAL every
 * SP_API_CHECKPOINT_S seconds.
 *
 * Runs: the live stream (its own service thread) and the run manager are created before the
 * HTTP server. On SIGINT or SIGTERM the runs going are stopped gracefully and recorded as
 * "stopped" first; then the HTTP server, the run manager and the live stream are freed, in
 * that order, because handlers use the manager and the manager publishes to the stream.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "engine/common.h"
#include "api/api.h"
#include "base/version.h"
#include "auth/auth.h"
#include "cli/cli.h"
#include "cli/config.h"
#include "base/datadir.h"
#include "http/http.h"
#include "live/live.h"
#include "base/log.h"
#include "runs/runs.h"

/* mkdir -p with mode 0700: the database holds test definitions, which may hold credentials. */
static int make_dirs(const char *dir, char *err, size_t errlen)
{
    char path[PATH_MAX];
    if ((size_t)snprintf(path, sizeof path, "%s", dir) >= sizeof path) {
        snprintf(err, errlen, "--data-dir: path too long");
        return SP_EINVAL;
    }
    for (char *p = path + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char saved = *p;
            *p = '\0';
            if (mkdir(path, 0700) != 0 && errno != EEXIST) {
                snprintf(err, errlen, "cannot create '%s': %s", path, strerror(errno));
                return SP_ESYS;
            }
            *p = saved;
            if (saved == '\0')
                break;
        }
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "--data-dir '%s' is not a directory", dir);
        return SP_ESYS;
    }
    return 0;
}

static int is_loopback_addr(const char *host)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6);
    return 0;
}

/* Reads a small PEM file whole (NUL-terminated, malloc'd), or NULL with err set. */
static char *read_pem(const char *path, char *err, size_t errlen)
{
    sp_buf b;
    sp_buf_init(&b, 1u << 20);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "cannot read '%s': %s", path, strerror(errno));
        sp_buf_release(&b);
        return NULL;
    }
    char chunk[4096];
    ssize_t n;
    int bad = 0;
    while ((n = read(fd, chunk, sizeof chunk)) > 0)
        bad |= sp_buf_add(&b, chunk, (size_t)n) != 0;
    close(fd);
    if (n < 0 || bad || b.len == 0) {
        snprintf(err, errlen, "cannot read '%s': %s", path,
                 n < 0 ? strerror(errno)
                 : bad ? "larger than 1 MiB"
                       : "empty");
        sp_buf_release(&b);
        return NULL;
    }
    return sp_buf_detach(&b, NULL);
}

/*
 * The live stream's upgrade check: the same decision as for a REST request, through
 * sp_http_access_check() (Host, Origin, session cookie or Bearer token, the read permission).
 * The accounts are opened after the live stream (which must know its port first), so until
 * then every upgrade is refused.
 */
typedef struct live_gate {
    _Atomic(sp_auth *) auth;
    const char *listen_host;
    _Atomic unsigned http_port; /* known once the HTTP server is up, when --listen said port 0 */
    uint16_t live_port;
    const char *public_url; /* --public-url, or NULL */
} live_gate;

static int live_auth(void *ud, const sp_live_request *r)
{
    live_gate *g = ud;
    sp_auth *auth = atomic_load(&g->auth);
    if (!auth)
        return SP_ESTATE;
    struct sockaddr_in in4;
    struct sockaddr_in6 in6;
    const struct sockaddr *peer = NULL;
    memset(&in4, 0, sizeof in4);
    memset(&in6, 0, sizeof in6);
    if (inet_pton(AF_INET, r->peer, &in4.sin_addr) == 1) {
        in4.sin_family = AF_INET;
        peer = (const struct sockaddr *)&in4;
    } else if (inet_pton(AF_INET6, r->peer, &in6.sin6_addr) == 1) {
        in6.sin6_family = AF_INET6;
        peer = (const struct sockaddr *)&in6;
    }
    sp_http_access a = {
        .peer = peer,
        .method = "GET",
        .host = r->host[0] ? r->host : NULL,
        .origin = r->origin[0] ? r->origin : NULL,
        .authorization = r->authorization[0] ? r->authorization : NULL,
        .cookie = r->cookie[0] ? r->cookie : NULL,
        .websocket = 1,
        .listen_host = g->listen_host,
        .port = g->live_port,
        .auth = auth,
        .path = r->path,
        .address = r->peer,
        .origin_port = (uint16_t)atomic_load(&g->http_port),
        .public_url = g->public_url,
    };
    sp_http_principal who;
    char msg[512];
    int rc = sp_http_access_check(&a, SP_PERM_READ, &who, msg, sizeof msg);
    if (rc)
        sp_log_kv(SP_LOG_INFO, "live upgrade refused", "address", r->peer, "reason", msg, NULL);
    return rc;
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/*
 * Where the example tests are when --examples-dir is not given: an installed stampede finds
 * them in PREFIX/share/stampede/examples beside its bin/; a stampede run from a build tree
 * finds them in the source tree it was built from (this file's directory's parent). NULL when
 * neither exists. The result is malloc'd.
 */
static char *default_examples_dir(void)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            char cand[PATH_MAX];
            if ((size_t)snprintf(cand, sizeof cand, "%s/../share/stampede/examples", exe) <
                    sizeof cand &&
                is_dir(cand))
                return realpath(cand, NULL);
        }
    }
    char src[PATH_MAX];
    snprintf(src, sizeof src, "%s", __FILE__);
    char *slash = strrchr(src, '/');
    if (slash && slash != src) {
        *slash = '\0'; /* .../server */
        slash = strrchr(src, '/');
        if (slash) {
            *slash = '\0';
            char cand[PATH_MAX];
            if ((size_t)snprintf(cand, sizeof cand, "%s/examples", src) < sizeof cand &&
                is_dir(cand))
                return realpath(cand, NULL);
        }
    }
    return NULL;
}

int sp_cmd_serve(int argc, char **argv)
{
    int code = 1;
    char err[1024] = "";
    sp_api *api = NULL;
    sp_http_server *http = NULL;
    sp_live *live = NULL;
    sp_runs *runs = NULL;
    sp_auth *auth = NULL;
    char *examples = NULL;
    char *live_url = NULL;
    int lock_fd = -1;
    char *tls_cert = NULL, *tls_key = NULL;
    live_gate gate;
    atomic_init(&gate.auth, NULL);
    sp_config cfg;
    sp_config_init(&cfg);

    int rc = sp_config_parse(&cfg, argc, argv, err, sizeof err);
    if (rc == 1) {
        fputs(sp_config_usage(), stdout);
        code = 0;
        goto out;
    }
    if (rc) {
        fprintf(stderr, "stampede serve: %s\n(see `stampede serve --help`)\n", err);
        code = 2;
        goto out;
    }
    sp_log_init();
    sp_log_set_level((sp_log_level)cfg.log_level);

    /* Before any thread exists: see the top of this file. SIGPIPE is ignored because a client
     * that goes away must cost a failed write, not the process. */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* A server reachable from the network must not start with a password nobody chose: the
     * first start there needs STAMPEDE_ADMIN_PASSWORD (checked again below for later starts). */
    int exposed = !is_loopback_addr(cfg.listen_host);
    const char *admin_pw = getenv("STAMPEDE_ADMIN_PASSWORD");
    if (admin_pw && !*admin_pw)
        admin_pw = NULL;
    if (exposed) {
        char db[PATH_MAX];
        struct stat st;
        snprintf(db, sizeof db, "%s/stampede.db", cfg.data_dir);
        if (stat(db, &st) != 0 && !admin_pw) {
            fprintf(stderr,
                    "stampede serve: refusing to listen on %s: with access control on, the "
                    "admin password must not be a generated one on an address others can "
                    "reach. Set STAMPEDE_ADMIN_PASSWORD for this first start, or start on "
                    "127.0.0.1 first and change the password (POST /api/v1/auth/password).\n",
                    cfg.listen_host);
            code = 2;
            goto out;
        }
    }
    if (cfg.tls_cert) {
        tls_cert = read_pem(cfg.tls_cert, err, sizeof err);
        tls_key = tls_cert ? read_pem(cfg.tls_key, err, sizeof err) : NULL;
        if (!tls_key) {
            fprintf(stderr, "stampede serve: --tls-cert/--tls-key: %s\n", err);
            code = 2;
            goto out;
        }
    }

    if (make_dirs(cfg.data_dir, err, sizeof err) != 0) {
        sp_log_kv(SP_LOG_ERROR, "cannot prepare the data directory", "error", err, NULL);
        goto out;
    }
    /* One server per data directory, and `stampede restore` waits for it to stop. */
    if (sp_datadir_lock(cfg.data_dir, "serve", &lock_fd, err, sizeof err) != 0) {
        sp_log_kv(SP_LOG_ERROR, "cannot lock the data directory", "error", err, NULL);
        goto out;
    }
    if (cfg.live_url) {
        live_url = sp_strdup(cfg.live_url);
    } else if (cfg.public_url) {
        /* The nginx sample's layout: the stream under /live/ of the same origin. */
        int tls = strncmp(cfg.public_url, "https://", 8) == 0;
        const char *authority = cfg.public_url + (tls ? 8 : 7);
        size_t n = strlen(authority) + 16;
        live_url = sp_malloc(n);
        snprintf(live_url, n, "%s://%s/live/", tls ? "wss" : "ws", authority);
    }
    /* The live stream first, so that /api/v1/config reports the port it really bound. Browsers
     * may only connect from the dashboard's own origin. */
    /* Host and Origin of an upgrade are checked by sp_http_access_check() in live_auth(),
     * against the same names as REST requests, so that every refusal is audited. */
    gate.listen_host = cfg.listen_host;
    atomic_init(&gate.http_port, cfg.port);
    gate.live_port = cfg.live_port; /* never 0: --live-port refuses it */
    gate.public_url = cfg.public_url; /* behind a reverse proxy: its name and origin */
    sp_live_opts lo;
    sp_live_opts_init(&lo);
    lo.listen_addr = cfg.listen_host;
    lo.port = cfg.live_port;
    lo.auth = live_auth;
    lo.auth_ud = &gate;
    lo.auth_checks_names = 1;
    /* A dashboard served over https may only open wss:// streams. */
    lo.tls_cert_path = cfg.tls_cert;
    lo.tls_key_path = cfg.tls_key;
    if (sp_live_new(&lo, &live, err, sizeof err) != 0) {
        sp_log_kv(SP_LOG_ERROR, "cannot start the live stream", "error", err, NULL);
        goto out;
    }
    sp_api_config acfg = {cfg.data_dir, cfg.web_root, (uint16_t)sp_live_port(live), live_url};
    if (sp_api_new(&api, &acfg, err, sizeof err) != 0) {
        sp_log_kv(SP_LOG_ERROR, "cannot open the database", "data_dir", cfg.data_dir, "error", err,
                    NULL);
        goto out;
    }
    /* The accounts: after sp_api_new, which migrated the database. */
    {
        sp_auth_config ac = {.db_path = sp_api_db_path(api),
                             .enabled = !cfg.no_auth,
                             .server_names = (const char *const *)cfg.server_names,
                             .n_server_names = cfg.n_server_names,
                             .admin_password = admin_pw};
        char generated[96] = "";
        if (sp_auth_new(&auth, &ac, generated, sizeof generated, err, sizeof err) != 0) {
            sp_log_kv(SP_LOG_ERROR, "cannot open the accounts", "error", err, NULL);
            goto out;
        }
        if (generated[0]) {
            /* Shown once, here, and never logged: only its hash is stored. */
            fprintf(stderr,
                    "\nFirst start: created the user \"admin\" (role admin).\n"
                    "admin password: %s\n"
                    "Log in to the dashboard with it, then change it. It is not shown again.\n\n",
                    generated);
            fflush(stderr);
            sodium_memzero(generated, sizeof generated);
        }
        int still = sp_auth_password_still_generated(auth);
        if (exposed && !cfg.no_auth && still != 0) {
            fprintf(stderr,
                    "stampede serve: refusing to listen on %s: the admin password is still the "
                    "generated one. Start on 127.0.0.1, log in and change it (POST "
                    "/api/v1/auth/password), then listen on %s.\n",
                    cfg.listen_host, cfg.listen_host);
            code = 2;
            goto out;
        }
        atomic_store(&gate.auth, auth);
        if (cfg.no_auth)
            sp_log_kv(SP_LOG_WARN,
                        "access control is off (--no-auth): every loopback client may do "
                        "everything",
                        NULL);
    }
    /* After sp_api_new: runs left running by a dead process are marked aborted first. */
    sp_runs_config rcfg = {.db_path = sp_api_db_path(api), .data_dir = sp_api_files_dir(api),
                           .live = live, .max_vus = cfg.max_vus,
                           .max_duration_ms = cfg.max_duration_ms, .max_rate = cfg.max_rate,
                           .max_runs = cfg.max_runs};
    if (sp_runs_new(&rcfg, &runs, err, sizeof err) != 0) {
        sp_log_kv(SP_LOG_ERROR, "cannot start the run manager", "error", err, NULL);
        goto out;
    }
    sp_api_set_runs(api, runs);
    sp_live_set_backlog_fn(live, sp_runs_backlog, runs);
    if (sp_api_is_first_start(api)) {
        examples = cfg.examples_dir ? sp_strdup(cfg.examples_dir) : default_examples_dir();
        if (examples)
            sp_api_seed_examples(api, examples, cfg.shop_url);
        else
            sp_log_kv(SP_LOG_WARN, "no example tests found; use --examples-dir", NULL);
    }

    size_t nroutes;
    const sp_http_route *routes = sp_api_routes(&nroutes);
    sp_http_config hcfg = {cfg.listen_host, cfg.port, (uint16_t)sp_live_port(live), 0, auth,
                           tls_cert,        tls_key, cfg.public_url, live_url};
    if (sp_http_server_new(&http, &hcfg, routes, nroutes, api, err, sizeof err) != 0) {
        sp_log_kv(SP_LOG_ERROR, "cannot start the HTTP server", "error", err, NULL);
        goto out;
    }
    char url[128], port[8], livep[8];
    int v6 = strchr(cfg.listen_host, ':') != NULL;
    atomic_store(&gate.http_port, sp_http_server_port(http));
    snprintf(url, sizeof url, "%s://%s%s%s:%u/", tls_cert ? "https" : "http", v6 ? "[" : "",
             cfg.listen_host, v6 ? "]" : "", (unsigned)sp_http_server_port(http));
    snprintf(port, sizeof port, "%u", (unsigned)sp_http_server_port(http));
    snprintf(livep, sizeof livep, "%u", (unsigned)sp_live_port(live));
    sp_log_kv(SP_LOG_INFO, "listening", "url", url, "live_port", livep, "data_dir", cfg.data_dir,
                "public_url", cfg.public_url, "live_url", live_url, "version",
                sp_version_string(), NULL);
    /* Times without access control are worth finding in the log afterwards. */
    sp_auth_audit(auth, "-", NULL, "server.start", url,
                  cfg.no_auth ? "access control off (--no-auth)" : "access control on");
    printf("Stampede is running at %s (REST API: %sapi/v1, press Ctrl-C to stop)\n", url, url);
    fflush(stdout);

    /* The main thread's only other duty: checkpoint the WAL now and then, because readers that
     * overlap commits can keep SQLite's automatic checkpoints from ever completing. */
    int sig;
    for (;;) {
        struct timespec every = {SP_API_CHECKPOINT_S, 0};
        sig = sigtimedwait(&stop_signals, NULL, &every);
        if (sig == SIGINT || sig == SIGTERM)
            break;
        if (sig < 0 && errno == EAGAIN)
            sp_api_checkpoint(api, 0);
    }
    sp_log_kv(SP_LOG_INFO, "stopping", "signal", sig == SIGINT ? "SIGINT" : "SIGTERM", NULL);
    /* Running runs end gracefully and are recorded as stopped before anything closes; a
     * second signal while they finish their requests in flight stops them at once. */
    if (runs && sp_runs_active(runs)) {
        sp_log_kv(SP_LOG_INFO, "stopping runs", NULL);
        sp_runs_stop_all(runs, 1);
        while (sp_runs_active(runs) > 0) {
            struct timespec tick = {0, 100 * 1000 * 1000};
            int again = sigtimedwait(&stop_signals, NULL, &tick);
            if (again == SIGINT || again == SIGTERM) {
                sp_log_kv(SP_LOG_INFO, "stopping runs now", NULL);
                sp_runs_stop_all(runs, 0);
            }
        }
    }
    code = 0;
out:
    sp_http_server_free(http);
    sp_runs_free(runs); /* no handler uses it any more; stops what a failed start left */
    sp_live_free(live);
    sp_auth_free(auth); /* after the HTTP server and the live stream, which use it */
    if (tls_key)
        sodium_memzero(tls_key, strlen(tls_key));
    free(tls_key);
    free(tls_cert);
    if (api && code == 0 && rc == 0)
        sp_api_checkpoint(api, 1); /* every request has finished: shrink the WAL to nothing */
    sp_api_free(api);
    if (code == 0 && rc == 0)
        sp_log_kv(SP_LOG_INFO, "stopped", NULL);
    free(examples);
    free(live_url);
    sp_datadir_unlock(lock_fd);
    sp_config_release(&cfg);
    return code;
}
