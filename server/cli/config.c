/*
 * config.c - see config.h.
 */
#include "cli/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "engine/common.h"
#include "engine/definition.h"
#include "base/log.h"

#define MAX_URL 2048

static const char usage_text[] =
    "usage: stampede serve [options]\n"
    "\n"
    "Starts the server: dashboard, REST API (/api/v1), live stream, run history.\n"
    "\n"
    "options:\n"
    "  --listen ADDR:PORT   where the dashboard and API listen (default 127.0.0.1:8484);\n"
    "                       another address than loopback needs access control on and the\n"
    "                       admin password changed from the generated one\n"
    "  --live-port PORT     the live stream's WebSocket port (default 8485)\n"
    "  --data-dir DIR       where the database lives, created if missing (default ./var)\n"
    "  --config FILE        a JSON file with these options in snake_case (listen,\n"
    "                       live_port, data_dir, ..., no_auth: true, server_name: one name,\n"
    "                       tls_cert, tls_key, log_level, public_url, live_url); the\n"
    "                       command line wins\n"
    "  --shop-url URL       on first start, seed the example tests pointed at this URL\n"
    "  --web-root DIR       serve the dashboard from DIR instead of the built-in page\n"
    "  --examples-dir DIR   where the example tests are (default: next to the program)\n"
    "  --max-vus N          refuse runs above N VUs (default 10000)\n"
    "  --max-duration D     refuse runs longer than D, e.g. 2h (default 24h)\n"
    "  --max-rate N         refuse open-model runs above N iterations/s (default 100000)\n"
    "  --max-runs N         runs going at once (default 4)\n"
    "  --stop-grace D       on SIGTERM, how long runs may finish their requests in flight\n"
    "                       before they are stopped at once (default 20s; the process\n"
    "                       exits within D + 2s)\n"
    "  --log-level LEVEL    debug, info, warn or error: the least severe event logged\n"
    "                       (default info)\n"
    "  --public-url URL     behind a reverse proxy: the https://HOST[:PORT] users open;\n"
    "                       accepted as Host and Origin (docs/operations.md)\n"
    "  --live-url URL       the live stream's ws:// or wss:// URL as browsers must open it\n"
    "                       (default: PUBLIC-URL with wss:// and /live/, else the live port)\n"
    "\n"
    "access control (on by default; docs/security.md):\n"
    "  --no-auth            no accounts: every loopback client may do everything (only\n"
    "                       with a loopback --listen address)\n"
    "  --server-name NAME   a host name clients use to reach this server (Host and Origin\n"
    "                       are checked against it, the listen address and localhost);\n"
    "                       repeatable\n"
    "  --tls-cert FILE      serve HTTPS, and the live stream as wss://, with this PEM\n"
    "  --tls-key FILE       certificate (chain) and this PEM private key; or put the\n"
    "                       reverse proxy of packaging/ in front instead\n"
    "The first start creates the user admin with the password in STAMPEDE_ADMIN_PASSWORD,\n"
    "or a random one printed once on stderr.\n"
    "  -h, --help           print this help\n"
    "\n"
    "SIGINT or SIGTERM stops the server; the exit code is then 0. Bad options exit with 2.\n";

const char *sp_config_usage(void)
{
    return usage_text;
}

void sp_config_init(sp_config *c)
{
    memset(c, 0, sizeof(*c));
    c->listen_host = sp_strdup(SP_CONFIG_DEFAULT_HOST);
    c->port = SP_CONFIG_DEFAULT_PORT;
    c->live_port = SP_CONFIG_DEFAULT_LIVE_PORT;
    c->data_dir = sp_strdup(SP_CONFIG_DEFAULT_DATA_DIR);
    c->log_level = SP_LOG_INFO;
    c->stop_grace_ms = SP_SERVE_STOP_GRACE_MS;
}

void sp_config_release(sp_config *c)
{
    free(c->listen_host);
    free(c->data_dir);
    free(c->config_file);
    free(c->shop_url);
    free(c->web_root);
    free(c->examples_dir);
    free(c->public_url);
    free(c->live_url);
    for (size_t i = 0; i < c->n_server_names; i++)
        free(c->server_names[i]);
    free(c->tls_cert);
    free(c->tls_key);
    memset(c, 0, sizeof(*c));
}

static void set_str(char **field, const char *value)
{
    free(*field);
    *field = sp_strdup(value);
}

static int parse_port(const char *s, int allow_zero, uint16_t *port)
{
    if (!*s || strlen(s) > 5 || strspn(s, "0123456789") != strlen(s))
        return SP_EINVAL;
    long v = strtol(s, NULL, 10);
    if (v > 65535 || (v == 0 && !allow_zero))
        return SP_EINVAL;
    *port = (uint16_t)v;
    return 0;
}

int sp_config_is_loopback(const char *host)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6);
    return 0;
}

/* "127.0.0.1:8484", "[::1]:8484", "localhost:8484". */
static int parse_listen(sp_config *c, const char *s, char *err, size_t errlen)
{
    char host[128];
    const char *port;
    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        if (!end || end[1] != ':' || (size_t)(end - s - 1) >= sizeof host)
            goto bad;
        memcpy(host, s + 1, (size_t)(end - s - 1));
        host[end - s - 1] = '\0';
        port = end + 2;
    } else {
        const char *colon = strrchr(s, ':');
        if (!colon || (size_t)(colon - s) >= sizeof host || memchr(s, ':', (size_t)(colon - s)))
            goto bad;
        memcpy(host, s, (size_t)(colon - s));
        host[colon - s] = '\0';
        port = colon + 1;
    }
    if (parse_port(port, 1, &c->port) != 0) {
        snprintf(err, errlen, "--listen '%s': the port must be a number from 0 to 65535", s);
        return SP_EINVAL;
    }
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof host, "127.0.0.1");
    if (host[0] == '\0')
        snprintf(host, sizeof host, "0.0.0.0"); /* ":8484": every interface */
    struct in_addr a4;
    struct in6_addr a6;
    if (host[0] != '\0' && inet_pton(AF_INET, host, &a4) != 1 &&
        inet_pton(AF_INET6, host, &a6) != 1) {
        snprintf(err, errlen,
                 "--listen '%s': the address must be numeric (127.0.0.1 or [::1]), not a name", s);
        return SP_EINVAL;
    }
    set_str(&c->listen_host, host);
    return 0;
bad:
    snprintf(err, errlen, "--listen '%s': expected ADDRESS:PORT, e.g. 127.0.0.1:8484 or [::1]:8484",
             s);
    return SP_EINVAL;
}

static int check_url(const char *opt, const char *url, char *err, size_t errlen)
{
    size_t n = strlen(url);
    const char *rest = NULL;
    if (strncmp(url, "http://", 7) == 0)
        rest = url + 7;
    else if (strncmp(url, "https://", 8) == 0)
        rest = url + 8;
    int ok = rest && *rest && *rest != '/' && n < MAX_URL;
    for (size_t i = 0; ok && i < n; i++)
        ok = (unsigned char)url[i] > ' ' && (unsigned char)url[i] != 0x7f;
    if (!ok) {
        snprintf(err, errlen, "%s '%.200s': expected an http:// or https:// URL with a host", opt,
                 url);
        return SP_EINVAL;
    }
    return 0;
}

/* "https://host[:port]" (or http://), nothing after the authority but an optional '/'. The
 * trailing '/' is dropped, so the value is the exact Origin a browser sends. */
static int check_public_url(char *url, char *err, size_t errlen)
{
    if (check_url("--public-url", url, err, errlen) != 0)
        return SP_EINVAL;
    size_t n = strlen(url);
    if (n > 0 && url[n - 1] == '/')
        url[--n] = '\0';
    const char *auth = strstr(url, "://") + 3;
    if (strpbrk(auth, "/?#@") || !*auth || n > 200) {
        snprintf(err, errlen,
                 "--public-url '%.200s': expected only a scheme and a host (and a port), "
                 "e.g. https://stampede.example.com",
                 url);
        return SP_EINVAL;
    }
    /* Browsers leave the scheme's default port out of Origin. */
    const char *dflt = strncmp(url, "https://", 8) == 0 ? ":443" : ":80";
    size_t dn = strlen(dflt);
    if (n > dn && strcmp(url + n - dn, dflt) == 0)
        url[n - dn] = '\0';
    return 0;
}

static int check_ws_url(const char *url, char *err, size_t errlen)
{
    size_t n = strlen(url);
    const char *rest = strncmp(url, "ws://", 5) == 0    ? url + 5
                       : strncmp(url, "wss://", 6) == 0 ? url + 6
                                                        : NULL;
    int ok = rest && *rest && *rest != '/' && n < 512;
    for (size_t i = 0; ok && i < n; i++)
        ok = (unsigned char)url[i] > ' ' && (unsigned char)url[i] != 0x7f && url[i] != '"';
    if (!ok) {
        snprintf(err, errlen, "--live-url '%.200s': expected a ws:// or wss:// URL with a host",
                 url);
        return SP_EINVAL;
    }
    return 0;
}

static int check_dir(const char *opt, const char *dir, char *err, size_t errlen)
{
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s '%.200s': not a directory", opt, dir);
        return SP_EINVAL;
    }
    return 0;
}

/* Applies one option by its name (without dashes, snake_case or kebab-case). */
static int apply(sp_config *c, const char *name, const char *value, char *err, size_t errlen)
{
    char opt[64];
    snprintf(opt, sizeof opt, "--%s", name);
    for (char *p = opt; *p; p++)
        if (*p == '_')
            *p = '-';
    if (strcmp(opt, "--listen") == 0)
        return parse_listen(c, value, err, errlen);
    if (strcmp(opt, "--live-port") == 0) {
        if (parse_port(value, 0, &c->live_port) != 0) {
            snprintf(err, errlen, "--live-port '%.100s': expected a port from 1 to 65535", value);
            return SP_EINVAL;
        }
        return 0;
    }
    if (strcmp(opt, "--data-dir") == 0) {
        if (!*value) {
            snprintf(err, errlen, "--data-dir: expected a directory");
            return SP_EINVAL;
        }
        set_str(&c->data_dir, value);
        return 0;
    }
    if (strcmp(opt, "--shop-url") == 0) {
        if (check_url(opt, value, err, errlen) != 0)
            return SP_EINVAL;
        set_str(&c->shop_url, value);
        size_t n = strlen(c->shop_url);
        while (n > 0 && c->shop_url[n - 1] == '/')
            c->shop_url[--n] = '\0';
        return 0;
    }
    if (strcmp(opt, "--web-root") == 0) {
        if (check_dir(opt, value, err, errlen) != 0)
            return SP_EINVAL;
        set_str(&c->web_root, value);
        return 0;
    }
    if (strcmp(opt, "--examples-dir") == 0) {
        if (check_dir(opt, value, err, errlen) != 0)
            return SP_EINVAL;
        set_str(&c->examples_dir, value);
        return 0;
    }
    if (strcmp(opt, "--log-level") == 0) {
        sp_log_level lv;
        if (sp_log_level_parse(value, &lv) != 0) {
            snprintf(err, errlen, "--log-level '%.100s': expected debug, info, warn or error",
                     value);
            return SP_EINVAL;
        }
        c->log_level = (int)lv;
        return 0;
    }
    if (strcmp(opt, "--public-url") == 0) {
        char *copy = sp_strdup(value);
        if (check_public_url(copy, err, errlen) != 0) {
            free(copy);
            return SP_EINVAL;
        }
        free(c->public_url);
        c->public_url = copy;
        return 0;
    }
    if (strcmp(opt, "--live-url") == 0) {
        if (check_ws_url(value, err, errlen) != 0)
            return SP_EINVAL;
        set_str(&c->live_url, value);
        return 0;
    }
    if (strcmp(opt, "--server-name") == 0) {
        size_t n = strlen(value);
        int ok = n > 0 && n < 254;
        for (size_t i = 0; ok && i < n; i++) {
            char ch = value[i];
            ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                 ch == '.' || ch == '-' || ch == ':';
        }
        if (!ok) {
            snprintf(err, errlen,
                     "--server-name '%.100s': expected a host name or address without port", value);
            return SP_EINVAL;
        }
        if (c->n_server_names == SP_CONFIG_MAX_SERVER_NAMES) {
            snprintf(err, errlen, "--server-name: at most %d names", SP_CONFIG_MAX_SERVER_NAMES);
            return SP_EINVAL;
        }
        c->server_names[c->n_server_names++] = sp_strdup(value);
        return 0;
    }
    if (strcmp(opt, "--tls-cert") == 0 || strcmp(opt, "--tls-key") == 0) {
        struct stat st;
        if (stat(value, &st) != 0 || !S_ISREG(st.st_mode)) {
            snprintf(err, errlen, "%s '%.200s': not a readable file", opt, value);
            return SP_EINVAL;
        }
        set_str(strcmp(opt, "--tls-cert") == 0 ? &c->tls_cert : &c->tls_key, value);
        return 0;
    }
    if (strcmp(opt, "--no-auth") == 0) {
        if (strcmp(value, "true") != 0 && strcmp(value, "false") != 0) {
            snprintf(err, errlen, "no_auth must be true or false");
            return SP_EINVAL;
        }
        c->no_auth = strcmp(value, "true") == 0;
        return 0;
    }
    if (strcmp(opt, "--stop-grace") == 0) {
        int64_t ms = -1;
        if (sp_parse_duration_ms(value, &ms) != 0 || ms < 0 || ms > 3600 * 1000) {
            snprintf(err, errlen,
                     "--stop-grace '%.100s': expected a duration up to 1h, such as 20s", value);
            return SP_EINVAL;
        }
        c->stop_grace_ms = (uint64_t)ms;
        return 0;
    }
    if (strcmp(opt, "--max-duration") == 0) {
        int64_t ms = 0;
        if (sp_parse_duration_ms(value, &ms) != 0 || ms <= 0) {
            snprintf(err, errlen, "--max-duration '%.100s': expected a duration such as 2h", value);
            return SP_EINVAL;
        }
        c->max_duration_ms = (uint64_t)ms;
        return 0;
    }
    uint32_t *cap = strcmp(opt, "--max-vus") == 0    ? &c->max_vus
                    : strcmp(opt, "--max-rate") == 0 ? &c->max_rate
                    : strcmp(opt, "--max-runs") == 0 ? &c->max_runs
                                                     : NULL;
    if (cap) {
        char *end;
        errno = 0;
        long long n = strtoll(value, &end, 10);
        if (errno || end == value || *end || n < 1 || n > 10000000) {
            snprintf(err, errlen, "%s '%.100s': expected a whole number from 1", opt, value);
            return SP_EINVAL;
        }
        *cap = (uint32_t)n;
        return 0;
    }
    snprintf(err, errlen, "unknown option '%.100s'", opt);
    return SP_EINVAL;
}

static const char *const file_keys[] = {
    "listen",   "live_port",    "data_dir",  "shop_url",   "web_root", "examples_dir",
    "max_vus",  "max_duration", "max_rate",  "max_runs",   "no_auth",  "server_name",
    "tls_cert", "tls_key",      "log_level", "public_url", "live_url", "stop_grace"};

static const char *const cli_names[] = {
    "listen",   "live-port",    "data-dir",  "shop-url",   "web-root", "examples-dir",
    "max-vus",  "max-duration", "max-rate",  "max-runs",   "no-auth",  "server-name",
    "tls-cert", "tls-key",      "log-level", "public-url", "live-url", "stop-grace"};

static int load_file(sp_config *c, const char *path, char *err, size_t errlen)
{
    int rc = 0;
    json_error_t je;
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!doc) {
        snprintf(err, errlen, "--config '%.200s': line %d: %.200s", path, je.line, je.text);
        return SP_EINVAL;
    }
    if (!json_is_object(doc)) {
        snprintf(err, errlen, "--config '%.200s': expected a JSON object", path);
        rc = SP_EINVAL;
        goto out;
    }
    const char *key;
    json_t *v; /* borrowed from doc */
    json_object_foreach(doc, key, v)
    {
        int known = 0;
        for (size_t i = 0; i < SP_ARRAY_LEN(file_keys); i++)
            known |= strcmp(key, file_keys[i]) == 0;
        if (!known) {
            const char *hint = sp_suggest(key, file_keys, SP_ARRAY_LEN(file_keys));
            snprintf(err, errlen, "--config '%.200s': unknown key '%.100s'%s%s%s", path, key,
                     hint ? " (did you mean '" : "", hint ? hint : "", hint ? "'?)" : "");
            rc = SP_EINVAL;
            goto out;
        }
        char num[32];
        const char *text;
        if (json_is_string(v) && strcmp(key, "no_auth") != 0) {
            text = json_string_value(v);
        } else if (strcmp(key, "no_auth") == 0 && json_is_boolean(v)) {
            text = json_is_true(v) ? "true" : "false";
        } else if ((strcmp(key, "live_port") == 0 || strcmp(key, "max_vus") == 0 ||
                    strcmp(key, "max_rate") == 0 || strcmp(key, "max_runs") == 0) &&
                   json_is_integer(v)) {
            snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v));
            text = num;
        } else {
            snprintf(err, errlen, "--config '%.200s': '%s' must be a %s", path, key,
                     strcmp(key, "live_port") == 0 ? "number" : "string");
            rc = SP_EINVAL;
            goto out;
        }
        char sub[512];
        if (apply(c, key, text, sub, sizeof sub) != 0) {
            snprintf(err, errlen, "--config '%.200s': %s", path, sub);
            rc = SP_EINVAL;
            goto out;
        }
    }
out:
    json_decref(doc);
    return rc;
}

int sp_config_parse(sp_config *c, int argc, char **argv, char *err, size_t errlen)
{
    /* The file first, so the command line overrides it whatever the order of options. */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return 1;
        const char *file = NULL;
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            file = argv[i + 1];
        else if (strncmp(argv[i], "--config=", 9) == 0)
            file = argv[i] + 9;
        if (file) {
            set_str(&c->config_file, file);
            int rc = load_file(c, file, err, errlen);
            if (rc)
                return rc;
        }
    }
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
            snprintf(err, errlen, "unexpected argument '%.100s'", arg);
            return SP_EINVAL;
        }
        char name[64];
        const char *value;
        const char *eq = strchr(arg, '=');
        if (eq)
            snprintf(name, sizeof name, "%.*s", (int)(eq - arg - 2), arg + 2);
        else
            snprintf(name, sizeof name, "%s", arg + 2);
        int known = strcmp(name, "config") == 0;
        for (size_t k = 0; k < SP_ARRAY_LEN(cli_names); k++)
            known |= strcmp(name, cli_names[k]) == 0;
        if (!known) {
            const char *hint = sp_suggest(name, cli_names, SP_ARRAY_LEN(cli_names));
            snprintf(err, errlen, "unknown option '--%.60s'%s%s%s", name,
                     hint ? " (did you mean '--" : "", hint ? hint : "", hint ? "'?)" : "");
            return SP_EINVAL;
        }
        if (strcmp(name, "no-auth") == 0) {
            /* A flag: it takes no value. */
            if (eq) {
                snprintf(err, errlen, "--no-auth takes no value");
                return SP_EINVAL;
            }
            c->no_auth = 1;
            continue;
        }
        if (eq) {
            value = eq + 1;
        } else {
            if (i + 1 >= argc) {
                snprintf(err, errlen, "option '%.100s' needs a value", arg);
                return SP_EINVAL;
            }
            value = argv[++i];
        }
        if (strcmp(name, "config") == 0)
            continue; /* loaded above */
        int rc = apply(c, name, value, err, errlen);
        if (rc)
            return rc;
    }
    if (c->no_auth && !sp_config_is_loopback(c->listen_host)) {
        snprintf(err, errlen,
                 "refusing --no-auth on '%s': without access control anyone who can reach the "
                 "server can send load anywhere; use a loopback --listen address (127.0.0.1 or "
                 "[::1]) or leave access control on",
                 c->listen_host);
        return SP_EINVAL;
    }
    if (!c->tls_cert != !c->tls_key) {
        snprintf(err, errlen, "--tls-cert and --tls-key go together");
        return SP_EINVAL;
    }
    if (c->port != 0 && c->port == c->live_port) {
        snprintf(err, errlen, "--live-port %u is the same port as --listen", (unsigned)c->port);
        return SP_EINVAL;
    }
    return 0;
}
