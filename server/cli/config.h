/*
 * config.h - the options of `stampede serve`, from the command line and an optional JSON
 * configuration file.
 *
 * sp_config_parse() reads --config FILE first (when given), then lets every other option on
 * the command line override it, then validates the result as a whole. Nothing is opened or
 * created here (the data directory is made by the caller); the checks are the ones that can
 * be made without side effects, so a bad option fails before anything starts.
 *
 * The configuration file is a JSON object with the options' names in snake_case:
 *   {"listen": "127.0.0.1:8484", "live_port": 8485, "data_dir": "/var/lib/stampede",
 *    "shop_url": "http://127.0.0.1:8090", "web_root": "...", "examples_dir": "...",
 *    "max_vus": 10000, "max_duration": "24h", "max_rate": 100000, "max_runs": 4,
 *    "log_level": "info", "public_url": "https://stampede.example.com",
 *    "live_url": "wss://stampede.example.com/live/", "stop_grace": "20s"}
 * Access control: "no_auth": true, "server_name": "stampede.example" (one; the command line
 * may repeat --server-name), "tls_cert" and "tls_key" (PEM files).
 * Unknown keys are refused (with a suggestion), so a typo is not silently ignored. Relative
 * paths are taken from the current directory, as on the command line.
 *
 * Threads: main thread only. Memory: every string in sp_config is owned by it.
 */
#ifndef SP_CONFIG_H
#define SP_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define SP_CONFIG_MAX_SERVER_NAMES 12 /* SP_AUTH_MAX_SERVER_NAMES */

typedef struct sp_config {
    char *listen_host; /* numeric address; non-loopback only with access control (serve.c) */
    uint16_t port;     /* 0: any free port */
    uint16_t live_port;
    char *data_dir;
    char *config_file;  /* NULL when none */
    char *shop_url;     /* NULL: example tests keep their own base_url */
    char *web_root;     /* NULL: the built-in placeholder page */
    char *examples_dir; /* NULL: found next to the binary or the source tree */
    /* Run caps (server/runs/runs.h); 0: the default from limits.h. */
    uint32_t max_vus;
    uint64_t max_duration_ms;
    uint32_t max_rate;
    uint32_t max_runs;
    /* Access control (server/auth/auth.h). */
    int no_auth; /* --no-auth: loopback only, every client is "local" (admin) */
    char *server_names[SP_CONFIG_MAX_SERVER_NAMES]; /* --server-name, repeatable */
    size_t n_server_names;
    char *tls_cert; /* --tls-cert FILE (PEM), NULL: plain HTTP */
    char *tls_key;  /* --tls-key FILE (PEM) */
    int log_level;  /* an sp_log_level (server/base/log.h); SP_LOG_INFO by default */
    /* Behind a reverse proxy (docs/operations.md): the origin users reach the dashboard at,
     * "https://host[:port]" without a path, accepted as Host and Origin besides the loopback
     * names; and the live stream's URL as the dashboard must open it (GET /api/v1/config
     * "live_url"). NULL when not set; live_url then defaults to public_url's origin with
     * ws(s):// and the path /live/ (the nginx sample's). */
    char *public_url;
    char *live_url;
    /* SIGTERM: how long running runs may finish their requests in flight before they are
     * stopped at once (--stop-grace, "stop_grace"); SP_SERVE_STOP_GRACE_MS by default. */
    uint64_t stop_grace_ms;
} sp_config;

#define SP_CONFIG_DEFAULT_HOST "127.0.0.1"
#define SP_CONFIG_DEFAULT_PORT 8484
#define SP_CONFIG_DEFAULT_LIVE_PORT 8485
#define SP_CONFIG_DEFAULT_DATA_DIR "./var"

/* Sets the defaults. */
void sp_config_init(sp_config *c);
void sp_config_release(sp_config *c);

/*
 * Parses the arguments after "serve" (argv[0] is "serve"). Returns 0 when c is complete and
 * valid; 1 when --help was asked for (nothing else is done); SP_EINVAL with a one-line reason
 * in err (the caller prints it and exits 2).
 */
int sp_config_parse(sp_config *c, int argc, char **argv, char *err, size_t errlen);

/* The help text of `stampede serve`. */
const char *sp_config_usage(void);

/* Whether host (a numeric address) is a loopback one: 127.0.0.0/8 or ::1. */
int sp_config_is_loopback(const char *host);

#endif
