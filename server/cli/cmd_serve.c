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
 *
 * Schedules and webhooks: the scheduler (server/sched/) starts runs through the run manager,
 * and the delivery thread (server/notify/) hears of their ends through the manager's end
 * callback, run_ended() below, which this file registers so that the manager knows neither.
 * Both start before the HTTP server. At the end the scheduler stops first (no new starts),
 * then the run manager is freed (its last ends still reach the deliveries, stored for the next
 * start), then the delivery thread and the scheduler are freed.
 *
 * Test hooks, read from the environment and logged as warnings (docs/operations.md):
 * STAMPEDE_TEST_CLOCK sets the scheduler's clock ("2026-03-29T00:59:55Z", or "+SECONDS");
 * STAMPEDE_TEST_WEBHOOK_RETRY="BACKOFF_MS,RETRY_FOR_MS" shortens the webhook retries.
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
#include "agents/agents.h"
#include "api/api.h"
#include "base/version.h"
#include "auth/auth.h"
#include "cli/cli.h"
#include "cli/config.h"
#include "base/datadir.h"
#include "http/http.h"
#include "live/live.h"
#include "base/log.h"
#include "notify/notify.h"
#include "runs/runs.h"
#include "store/store.h"
#include "sched/sched.h"
#include "sched/tz.h"

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
    int tls;                /* the dashboard is served over TLS (--tls-cert) */
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
        .tls = g->tls,
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
 * finds them in the source tree it was built from (the nearest parent of this file's directory
 * holding examples/). NULL when neither exists. The result is malloc'd.
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
    /* A build tree: this file is SOURCE/server/cli/cmd_serve.c, the examples SOURCE/examples. */
    char src[PATH_MAX];
    snprintf(src, sizeof src, "%s", __FILE__);
    for (int up = 0; up < 3; up++) {
        char *slash = strrchr(src, '/');
        if (!slash || slash == src)
            break;
        *slash = '\0';
        char cand[PATH_MAX];
        if ((size_t)snprintf(cand, sizeof cand, "%s/examples", src) < sizeof cand && is_dir(cand))
            return realpath(cand, NULL);
    }
    return NULL;
}

/* Everything `stampede serve` starts, so that one function can stop it in reverse order. */
typedef struct server {
    sp_config cfg;
    sp_api *api;
    sp_http_server *http;
    sp_live *live;
    sp_agents *agents;
    sp_runs *runs;
    sp_auth *auth;
    sp_sched *sched;
    sp_notify *notify;
    int64_t started_ms;      /* before crash recovery: runs it marks aborted ended after this */
    int64_t clock_offset_ms; /* STAMPEDE_TEST_CLOCK */
    int64_t webhook_backoff_ms, webhook_retry_for_ms; /* STAMPEDE_TEST_WEBHOOK_RETRY */
    char *examples;
    char *live_url;
    int lock_fd;
    char *tls_cert, *tls_key;
    const char *admin_pw; /* STAMPEDE_ADMIN_PASSWORD, or NULL */
    int exposed;          /* listening on an address others can reach */
    live_gate gate;
    char err[1024];
} server;

/* A server reachable from the network must not start with a password nobody chose: the first
 * start there needs STAMPEDE_ADMIN_PASSWORD (open_accounts checks again for later starts).
 * Returns 0, or 2 with the reason printed. */
static int check_exposure(server *s)
{
    s->exposed = !sp_config_is_loopback(s->cfg.listen_host);
    s->admin_pw = getenv("STAMPEDE_ADMIN_PASSWORD");
    if (s->admin_pw && !*s->admin_pw)
        s->admin_pw = NULL;
    if (!s->exposed)
        return 0;
    char db[PATH_MAX];
    struct stat st;
    snprintf(db, sizeof db, "%s/stampede.db", s->cfg.data_dir);
    if (stat(db, &st) != 0 && !s->admin_pw) {
        fprintf(stderr,
                "stampede serve: refusing to listen on %s: with access control on, the "
                "admin password must not be a generated one on an address others can "
                "reach. Set STAMPEDE_ADMIN_PASSWORD for this first start, or start on "
                "127.0.0.1 first and change the password (POST /api/v1/auth/password).\n",
                s->cfg.listen_host);
        return 2;
    }
    return 0;
}

/* The live stream first, so that /api/v1/config reports the port it really bound. Browsers may
 * only connect from the dashboard's own origin. */
/* An agent's upgrade (agents.h): under --no-auth a loopback agent needs no token (the server
 * listens on loopback only then); otherwise it needs an agent token. */
static int agent_auth(void *ud, const char *token, int peer_loopback, int64_t *token_id)
{
    server *s = ud;
    *token_id = 0;
    if (s->cfg.no_auth)
        return peer_loopback ? 0 : SP_EINVAL;
    if (!s->auth || !token[0])
        return SP_EINVAL;
    return sp_auth_agent_token_check(s->auth, token, token_id);
}

static int start_live(server *s)
{
    const sp_config *cfg = &s->cfg;
    if (cfg->live_url) {
        s->live_url = sp_strdup(cfg->live_url);
    } else if (cfg->public_url) {
        /* The nginx sample's layout: the stream under /live/ of the same origin. */
        int tls = strncmp(cfg->public_url, "https://", 8) == 0;
        const char *authority = cfg->public_url + (tls ? 8 : 7);
        size_t n = strlen(authority) + 16;
        s->live_url = sp_malloc(n);
        snprintf(s->live_url, n, "%s://%s/live/", tls ? "wss" : "ws", authority);
    }
    /* Host and Origin of an upgrade are checked by sp_http_access_check() in live_auth(),
     * against the same names as REST requests, so that every refusal is audited. */
    s->gate.listen_host = cfg->listen_host;
    atomic_init(&s->gate.http_port, cfg->port);
    s->gate.live_port = cfg->live_port;   /* never 0: --live-port refuses it */
    s->gate.public_url = cfg->public_url; /* behind a reverse proxy: its name and origin */
    s->gate.tls = cfg->tls_cert != NULL;  /* the dashboard's scheme, for the Origin check */
    sp_live_opts lo;
    sp_live_opts_init(&lo);
    lo.listen_addr = cfg->listen_host;
    lo.port = cfg->live_port;
    lo.auth = live_auth;
    lo.auth_ud = &s->gate;
    lo.auth_checks_names = 1;
    /* A dashboard served over https may only open wss:// streams. */
    lo.tls_cert_path = cfg->tls_cert;
    lo.tls_key_path = cfg->tls_key;
    /* Agents connect to the same port, with their own protocol and check. */
    sp_agents_opts ao = {.auth = agent_auth, .auth_ud = s};
    s->agents = sp_agents_new(&ao);
    lo.extra_protocol = sp_agents_protocol(s->agents);
    if (sp_live_new(&lo, &s->live, s->err, sizeof s->err) != 0) {
        sp_log_kv(SP_LOG_ERROR, "cannot start the live stream", "error", s->err, NULL);
        return 1;
    }
    return 0;
}

/* The accounts: after sp_api_new, which migrated the database. Returns 0, 1 (failed) or 2 (an
 * exposed server whose admin password is still the generated one). */
static int open_accounts(server *s)
{
    sp_auth_config ac = {.db_path = sp_api_db_path(s->api),
                         .enabled = !s->cfg.no_auth,
                         .server_names = (const char *const *)s->cfg.server_names,
                         .n_server_names = s->cfg.n_server_names,
                         .admin_password = s->admin_pw};
    char generated[96] = "";
    int rc = sp_auth_new(&s->auth, &ac, generated, sizeof generated, s->err, sizeof s->err);
    if (rc != 0) {
        sp_log_kv(SP_LOG_ERROR,
                  rc == SP_EFULL ? "cannot start: the disk is full" : "cannot open the accounts",
                  "error", s->err, NULL);
        return 1;
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
    int still = sp_auth_password_still_generated(s->auth);
    if (s->exposed && !s->cfg.no_auth && still != 0) {
        fprintf(stderr,
                "stampede serve: refusing to listen on %s: the admin password is still the "
                "generated one. Start on 127.0.0.1, log in and change it (POST "
                "/api/v1/auth/password), then listen on %s.\n",
                s->cfg.listen_host, s->cfg.listen_host);
        return 2;
    }
    atomic_store(&s->gate.auth, s->auth);
    if (s->cfg.no_auth)
        sp_log_kv(SP_LOG_WARN,
                  "access control is off (--no-auth): every loopback client may do everything",
                  NULL);
    return 0;
}

/*
 * The run manager's end callback, on a run's waiter thread: hands the end to the webhook
 * deliveries and wakes the scheduler (a schedule may be waiting for this test to be idle).
 * Neither blocks. s->notify and s->sched are set before any run can start (runs start from
 * the HTTP server and the scheduler, both started later) and freed after the run manager.
 */
static void run_ended(void *ud, const sp_runs_end *e)
{
    server *s = ud;
    sp_notify_run_ended(s->notify, e->run_id);
    sp_sched_poke(s->sched);
}

/* Reads the test hooks from the environment (see the top of this file). Returns 0, or 2 with
 * the reason printed. */
static int read_test_hooks(server *s)
{
    const char *clock = getenv("STAMPEDE_TEST_CLOCK");
    if (clock && *clock) {
        int y, mo, d, h, mi, sec, n = 0;
        long long secs;
        if ((clock[0] == '+' || clock[0] == '-') && sscanf(clock, "%lld%n", &secs, &n) == 1 &&
            !clock[n]) {
            s->clock_offset_ms = secs * 1000;
        } else if (sscanf(clock, "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &y, &mo, &d, &h, &mi, &sec, &n) ==
                       6 &&
                   !clock[n] && mo >= 1 && mo <= 12 && d >= 1 && d <= 31) {
            int64_t at = (sp_tz_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 +
                          mi * 60 + sec) *
                         1000;
            s->clock_offset_ms = at - sp_wall_ms();
        } else {
            fprintf(stderr, "stampede serve: STAMPEDE_TEST_CLOCK must be a UTC time such as "
                            "2026-03-29T00:59:55Z or an offset in seconds such as +3600\n");
            return 2;
        }
        char off[32];
        snprintf(off, sizeof off, "%lld", (long long)s->clock_offset_ms);
        sp_log_kv(SP_LOG_WARN, "test hook: the scheduler's clock is moved", "offset_ms", off,
                  "STAMPEDE_TEST_CLOCK", clock, NULL);
    }
    const char *retry = getenv("STAMPEDE_TEST_WEBHOOK_RETRY");
    if (retry && *retry) {
        long long a, b;
        int n = 0;
        if (sscanf(retry, "%lld,%lld%n", &a, &b, &n) != 2 || retry[n] || a < 1 || b < 1) {
            fprintf(stderr, "stampede serve: STAMPEDE_TEST_WEBHOOK_RETRY must be "
                            "BACKOFF_MS,RETRY_FOR_MS such as 100,2000\n");
            return 2;
        }
        s->webhook_backoff_ms = a;
        s->webhook_retry_for_ms = b;
        sp_log_kv(SP_LOG_WARN, "test hook: webhook retries are shortened",
                  "STAMPEDE_TEST_WEBHOOK_RETRY", retry, NULL);
    }
    return 0;
}

/* The address links in webhook bodies point at: the public URL, else the listen address. */
static void server_url(const server *s, char *out, size_t outlen)
{
    const sp_config *cfg = &s->cfg;
    if (cfg->public_url) {
        snprintf(out, outlen, "%s", cfg->public_url);
        size_t n = strlen(out);
        if (n && out[n - 1] == '/')
            out[n - 1] = '\0';
        return;
    }
    int v6 = strchr(cfg->listen_host, ':') != NULL;
    snprintf(out, outlen, "%s://%s%s%s:%u", s->tls_cert ? "https" : "http", v6 ? "[" : "",
             cfg->listen_host, v6 ? "]" : "", (unsigned)cfg->port);
}

/* The scheduler and the webhook deliveries, after the run manager. */
static int open_sched_notify(server *s)
{
    char url[600];
    server_url(s, url, sizeof url);
    sp_notify_config nc = {.db_path = sp_api_db_path(s->api),
                           .server_url = url,
                           .aborted_since_ms = s->started_ms,
                           .backoff_ms = s->webhook_backoff_ms,
                           .retry_for_ms = s->webhook_retry_for_ms};
    if (sp_notify_new(&nc, &s->notify, s->err, sizeof s->err) != 0) {
        sp_log_kv(SP_LOG_ERROR, "cannot start the webhooks", "error", s->err, NULL);
        return 1;
    }
    sp_sched_config sc = {.db_path = sp_api_db_path(s->api),
                          .runs = s->runs,
                          .auth = s->auth,
                          .clock_offset_ms = s->clock_offset_ms};
    if (sp_sched_new(&sc, &s->sched, s->err, sizeof s->err) != 0) {
        sp_log_kv(SP_LOG_ERROR, "cannot start the scheduler", "error", s->err, NULL);
        return 1;
    }
    sp_api_set_sched(s->api, s->sched);
    sp_api_set_notify(s->api, s->notify);
    if (sp_notify_start(s->notify) != 0 || sp_sched_start(s->sched) != 0) {
        sp_log_kv(SP_LOG_ERROR, "cannot start the scheduler or the webhook thread", NULL);
        return 1;
    }
    return 0;
}

/* The store, the accounts, the run manager, the examples on a first start. Returns 0, 1 or 2
 * (as open_accounts). */
static int open_store(server *s)
{
    const sp_config *cfg = &s->cfg;
    sp_api_config acfg = {cfg->data_dir, cfg->web_root, (uint16_t)sp_live_port(s->live),
                          s->live_url};
    int rc = sp_api_new(&s->api, &acfg, s->err, sizeof s->err);
    if (rc != 0) {
        sp_log_kv(SP_LOG_ERROR,
                  rc == SP_EFULL ? "cannot start: the disk is full" : "cannot open the database",
                  "data_dir", cfg->data_dir, "error", s->err, NULL);
        return 1;
    }
    rc = open_accounts(s);
    if (rc)
        return rc;
    /* After sp_api_new: runs left running by a dead process are marked aborted first. */
    sp_runs_config rcfg = {.db_path = sp_api_db_path(s->api),
                           .data_dir = sp_api_files_dir(s->api),
                           .live = s->live,
                           .max_vus = cfg->max_vus,
                           .max_duration_ms = cfg->max_duration_ms,
                           .max_rate = cfg->max_rate,
                           .max_runs = cfg->max_runs,
                           .on_end = run_ended,
                           .on_end_ud = s,
                           .agents = s->agents};
    if (sp_runs_new(&rcfg, &s->runs, s->err, sizeof s->err) != 0) {
        sp_log_kv(SP_LOG_ERROR, "cannot start the run manager", "error", s->err, NULL);
        return 1;
    }
    sp_api_set_runs(s->api, s->runs);
    sp_api_set_agents(s->api, s->agents);
    sp_live_set_backlog_fn(s->live, sp_runs_backlog, s->runs);
    if (sp_api_is_first_start(s->api)) {
        s->examples = cfg->examples_dir ? sp_strdup(cfg->examples_dir) : default_examples_dir();
        if (s->examples)
            sp_api_seed_examples(s->api, s->examples, cfg->shop_url);
        else
            sp_log_kv(SP_LOG_WARN, "no example tests found; use --examples-dir", NULL);
    }
    return open_sched_notify(s);
}

/* The REST API and dashboard; says where they are. */
static int start_http(server *s)
{
    const sp_config *cfg = &s->cfg;
    size_t nroutes;
    const sp_http_route *routes = sp_api_routes(&nroutes);
    sp_http_config hcfg = {cfg->listen_host,
                           cfg->port,
                           (uint16_t)sp_live_port(s->live),
                           0,
                           s->auth,
                           s->tls_cert,
                           s->tls_key,
                           cfg->public_url,
                           s->live_url};
    if (sp_http_server_new(&s->http, &hcfg, routes, nroutes, s->api, s->err, sizeof s->err) != 0) {
        sp_log_kv(SP_LOG_ERROR, "cannot start the HTTP server", "error", s->err, NULL);
        return 1;
    }
    char url[128], port[8], livep[8];
    int v6 = strchr(cfg->listen_host, ':') != NULL;
    atomic_store(&s->gate.http_port, sp_http_server_port(s->http));
    snprintf(url, sizeof url, "%s://%s%s%s:%u/", s->tls_cert ? "https" : "http", v6 ? "[" : "",
             cfg->listen_host, v6 ? "]" : "", (unsigned)sp_http_server_port(s->http));
    snprintf(port, sizeof port, "%u", (unsigned)sp_http_server_port(s->http));
    snprintf(livep, sizeof livep, "%u", (unsigned)sp_live_port(s->live));
    sp_log_kv(SP_LOG_INFO, "listening", "url", url, "live_port", livep, "data_dir", cfg->data_dir,
              "public_url", cfg->public_url, "live_url", s->live_url, "version",
              sp_version_string(), NULL);
    /* Times without access control are worth finding in the log afterwards. */
    sp_auth_audit(s->auth, "-", NULL, "server.start", url,
                  cfg->no_auth ? "access control off (--no-auth)" : "access control on");
    printf("Stampede is running at %s (REST API: %sapi/v1, press Ctrl-C to stop)\n", url, url);
    fflush(stdout);
    return 0;
}

/* The main thread's only other duty until a stop signal: checkpoint the WAL now and then,
 * because readers that overlap commits can keep SQLite's automatic checkpoints from ever
 * completing. Then running runs end gracefully and are recorded as stopped before anything
 * closes. They are stopped at once by a second signal, or when --stop-grace has passed
 * (whatever a test's own graceful_stop says), so the daemon always ends within the grace and
 * the immediate stop's bound: systemd's TimeoutStopSec must not be reached. */
static void serve_until_stopped(server *s, const sigset_t *stop_signals)
{
    int sig;
    for (;;) {
        struct timespec every = {SP_API_CHECKPOINT_S, 0};
        sig = sigtimedwait(stop_signals, NULL, &every);
        if (sig == SIGINT || sig == SIGTERM)
            break;
        if (sig < 0 && errno == EAGAIN)
            sp_api_checkpoint(s->api, 0);
    }
    sp_log_kv(SP_LOG_INFO, "stopping", "signal", sig == SIGINT ? "SIGINT" : "SIGTERM", NULL);
    if (s->runs && sp_runs_active(s->runs)) {
        sp_log_kv(SP_LOG_INFO, "stopping runs", NULL);
        sp_runs_stop_all(s->runs, 1);
        uint64_t deadline = sp_now_us() + s->cfg.stop_grace_ms * 1000u;
        int now = 0;
        while (sp_runs_active(s->runs) > 0) {
            struct timespec tick = {0, 100 * 1000 * 1000};
            int again = sigtimedwait(stop_signals, NULL, &tick);
            if (!now && (again == SIGINT || again == SIGTERM || sp_now_us() >= deadline)) {
                sp_log_kv(SP_LOG_INFO, "stopping runs now", "why",
                          again > 0 ? "a second signal" : "the stop grace has passed", NULL);
                sp_runs_stop_all(s->runs, 0);
                now = 1;
            }
        }
    }
}

/* Stops and frees what was started, in reverse order; clean says the server ran and stopped on
 * a signal, so the WAL is shrunk and "stopped" logged. */
static void server_release(server *s, int clean)
{
    sp_http_server_free(s->http);
    sp_sched_stop(s->sched);   /* no new runs from it */
    sp_runs_free(s->runs);     /* no handler uses it any more; stops what a failed start left */
    sp_notify_free(s->notify); /* after the runs' last ends reached it */
    sp_sched_free(s->sched);
    sp_live_free(s->live);
    sp_agents_free(s->agents); /* after the live stream, whose thread served the agents */
    sp_auth_free(s->auth);     /* after the HTTP server and the live stream, which use it */
    if (s->tls_key)
        sodium_memzero(s->tls_key, strlen(s->tls_key));
    free(s->tls_key);
    free(s->tls_cert);
    if (s->api && clean)
        sp_api_checkpoint(s->api, 1); /* every request has finished: shrink the WAL to nothing */
    sp_api_free(s->api);
    if (clean)
        sp_log_kv(SP_LOG_INFO, "stopped", NULL);
    free(s->examples);
    free(s->live_url);
    sp_datadir_unlock(s->lock_fd);
    sp_config_release(&s->cfg);
}

int sp_cmd_serve(int argc, char **argv)
{
    int code = 1;
    server *s = sp_calloc(1, sizeof *s);
    s->lock_fd = -1;
    atomic_init(&s->gate.auth, NULL);
    sp_config_init(&s->cfg);

    int rc = sp_config_parse(&s->cfg, argc, argv, s->err, sizeof s->err);
    if (rc == 1) {
        fputs(sp_config_usage(), stdout);
        code = 0;
        goto out;
    }
    if (rc) {
        fprintf(stderr, "stampede serve: %s\n(see `stampede serve --help`)\n", s->err);
        code = 2;
        goto out;
    }
    sp_log_init();
    sp_log_set_level((sp_log_level)s->cfg.log_level);

    /* Before any thread exists: see the top of this file. SIGPIPE is ignored because a client
     * that goes away must cost a failed write, not the process. */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    if ((code = check_exposure(s)) != 0 || (code = read_test_hooks(s)) != 0)
        goto out;
    code = 2;
    if (s->cfg.tls_cert) {
        s->tls_cert = read_pem(s->cfg.tls_cert, s->err, sizeof s->err);
        s->tls_key = s->tls_cert ? read_pem(s->cfg.tls_key, s->err, sizeof s->err) : NULL;
        if (!s->tls_key) {
            fprintf(stderr, "stampede serve: --tls-cert/--tls-key: %s\n", s->err);
            goto out;
        }
    }
    code = 1;
    if (make_dirs(s->cfg.data_dir, s->err, sizeof s->err) != 0) {
        sp_log_kv(SP_LOG_ERROR, "cannot prepare the data directory", "error", s->err, NULL);
        goto out;
    }
    /* One server per data directory, and `stampede restore` waits for it to stop. */
    if (sp_datadir_lock(s->cfg.data_dir, "serve", &s->lock_fd, s->err, sizeof s->err) != 0) {
        sp_log_kv(SP_LOG_ERROR, "cannot lock the data directory", "error", s->err, NULL);
        goto out;
    }
    /* A server on a full disk would start, then refuse every write and lose its runs' seconds:
     * it says so and stops here instead, before anything listens. */
    char db[PATH_MAX];
    snprintf(db, sizeof db, "%s/%s", s->cfg.data_dir, SP_DATADIR_DB_FILE);
    if (sp_store_space(db, NULL, s->err, sizeof s->err) == SP_EFULL) {
        sp_log_kv(SP_LOG_ERROR, "cannot start: the disk is full", "data_dir", s->cfg.data_dir,
                  "error", s->err, NULL);
        goto out;
    }
    if (start_live(s) != 0)
        goto out;
    s->started_ms = sp_wall_ms();
    if ((code = open_store(s)) != 0)
        goto out;
    code = 1;
    if (start_http(s) != 0)
        goto out;
    serve_until_stopped(s, &stop_signals);
    code = 0;
out:
    server_release(s, code == 0 && rc == 0);
    free(s);
    return code;
}
