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
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/common.h"
#include "server/api.h"
#include "server/cli.h"
#include "server/config.h"
#include "server/datadir.h"
#include "server/http.h"
#include "server/live.h"
#include "server/log.h"
#include "server/runs.h"

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
    char *examples = NULL;
    char *live_url = NULL;
    int lock_fd = -1;
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

    if (make_dirs(cfg.data_dir, err, sizeof err) != 0) {
        sp_http_log("error", "cannot prepare the data directory", "error", err, NULL);
        goto out;
    }
    /* One server per data directory, and `stampede restore` waits for it to stop. */
    if (sp_datadir_lock(cfg.data_dir, "serve", &lock_fd, err, sizeof err) != 0) {
        sp_http_log("error", "cannot lock the data directory", "error", err, NULL);
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
    char origins[2][96];
    const char *origin_list[3] = {origins[0], origins[1], cfg.public_url};
    int v6l = strchr(cfg.listen_host, ':') != NULL;
    snprintf(origins[0], sizeof origins[0], "http://%s%s%s:%u", v6l ? "[" : "", cfg.listen_host,
             v6l ? "]" : "", (unsigned)cfg.port);
    snprintf(origins[1], sizeof origins[1], "http://localhost:%u", (unsigned)cfg.port);
    sp_live_opts lo;
    sp_live_opts_init(&lo);
    lo.listen_addr = cfg.listen_host;
    lo.port = cfg.live_port;
    lo.origins = origin_list;
    lo.n_origins = cfg.public_url ? 3 : 2;
    /* Behind a proxy the upgrade arrives with the public name as Host. */
    char public_host[256] = "";
    const char *host_list[5] = {"127.0.0.1", "localhost", "[::1]", "::1", public_host};
    if (cfg.public_url) {
        const char *authority = strstr(cfg.public_url, "://") + 3;
        size_t n = authority[0] == '[' ? strcspn(authority, "]") + 1 : strcspn(authority, ":");
        snprintf(public_host, sizeof public_host, "%.*s", (int)n, authority);
        lo.hosts = host_list;
        lo.n_hosts = 5;
    }
    if (sp_live_new(&lo, &live, err, sizeof err) != 0) {
        sp_http_log("error", "cannot start the live stream", "error", err, NULL);
        goto out;
    }
    sp_api_config acfg = {cfg.data_dir, cfg.web_root, (uint16_t)sp_live_port(live), live_url};
    if (sp_api_new(&api, &acfg, err, sizeof err) != 0) {
        sp_http_log("error", "cannot open the database", "data_dir", cfg.data_dir, "error", err,
                    NULL);
        goto out;
    }
    /* After sp_api_new: runs left running by a dead process are marked aborted first. */
    sp_runs_config rcfg = {.db_path = sp_api_db_path(api), .data_dir = cfg.data_dir,
                           .live = live, .max_vus = cfg.max_vus,
                           .max_duration_ms = cfg.max_duration_ms, .max_rate = cfg.max_rate,
                           .max_runs = cfg.max_runs};
    if (sp_runs_new(&rcfg, &runs, err, sizeof err) != 0) {
        sp_http_log("error", "cannot start the run manager", "error", err, NULL);
        goto out;
    }
    sp_api_set_runs(api, runs);
    sp_live_set_backlog_fn(live, sp_runs_backlog, runs);
    if (sp_api_is_first_start(api)) {
        examples = cfg.examples_dir ? sp_strdup(cfg.examples_dir) : default_examples_dir();
        if (examples)
            sp_api_seed_examples(api, examples, cfg.shop_url);
        else
            sp_http_log("warn", "no example tests found; use --examples-dir", NULL);
    }

    size_t nroutes;
    const sp_http_route *routes = sp_api_routes(&nroutes);
    sp_http_config hcfg = {cfg.listen_host, cfg.port, cfg.live_port, 0, cfg.public_url, live_url};
    if (sp_http_server_new(&http, &hcfg, routes, nroutes, api, err, sizeof err) != 0) {
        sp_http_log("error", "cannot start the HTTP server", "error", err, NULL);
        goto out;
    }
    char url[128], port[8], livep[8];
    int v6 = strchr(cfg.listen_host, ':') != NULL;
    snprintf(url, sizeof url, "http://%s%s%s:%u/", v6 ? "[" : "", cfg.listen_host, v6 ? "]" : "",
             (unsigned)sp_http_server_port(http));
    snprintf(port, sizeof port, "%u", (unsigned)sp_http_server_port(http));
    snprintf(livep, sizeof livep, "%u", (unsigned)sp_live_port(live));
    sp_http_log("info", "listening", "url", url, "live_port", livep, "data_dir", cfg.data_dir,
                "public_url", cfg.public_url, "live_url", live_url, "version",
                sp_version_string(), NULL);
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
    sp_http_log("info", "stopping", "signal", sig == SIGINT ? "SIGINT" : "SIGTERM", NULL);
    /* Running runs end gracefully and are recorded as stopped before anything closes; a
     * second signal while they finish their requests in flight stops them at once. */
    if (runs && sp_runs_active(runs)) {
        sp_http_log("info", "stopping runs", NULL);
        sp_runs_stop_all(runs, 1);
        while (sp_runs_active(runs) > 0) {
            struct timespec tick = {0, 100 * 1000 * 1000};
            int again = sigtimedwait(&stop_signals, NULL, &tick);
            if (again == SIGINT || again == SIGTERM) {
                sp_http_log("info", "stopping runs now", NULL);
                sp_runs_stop_all(runs, 0);
            }
        }
    }
    code = 0;
out:
    sp_http_server_free(http);
    sp_runs_free(runs); /* no handler uses it any more; stops what a failed start left */
    sp_live_free(live);
    if (api && code == 0 && rc == 0)
        sp_api_checkpoint(api, 1); /* every request has finished: shrink the WAL to nothing */
    sp_api_free(api);
    if (code == 0 && rc == 0)
        sp_http_log("info", "stopped", NULL);
    free(examples);
    free(live_url);
    sp_datadir_unlock(lock_fd);
    sp_config_release(&cfg);
    return code;
}
