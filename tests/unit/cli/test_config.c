/*
 * test_config.c - `stampede serve` options: the ones for running behind a reverse proxy
 * (--public-url, --live-url), --log-level, and the same keys in a --config file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "engine/common.h"
#include "cli/config.h"
#include "base/log.h"

/* Parses the options after "serve"; returns the result, err filled on failure. */
static int parse(sp_config *c, char *err, size_t errlen, const char *const *args)
{
    char *argv[16] = {"serve"};
    int argc = 1;
    for (; args[argc - 1] && argc < 15; argc++)
        argv[argc] = (char *)args[argc - 1];
    sp_config_init(c);
    err[0] = '\0';
    return sp_config_parse(c, argc, argv, err, errlen);
}

static void test_public_url(void)
{
    sp_config c;
    char err[512];
    const char *ok[] = {"--public-url", "https://stampede.example.com/", NULL};
    CHECK_INT_EQ(parse(&c, err, sizeof err, ok), 0);
    /* Stored as the exact Origin a browser sends: no trailing slash. */
    CHECK_STR_EQ(c.public_url, "https://stampede.example.com");
    CHECK(c.live_url == NULL);
    sp_config_release(&c);

    const char *port[] = {"--public-url=https://[::1]:8443", "--live-url",
                          "wss://stream.example.com/x", NULL};
    CHECK_INT_EQ(parse(&c, err, sizeof err, port), 0);
    CHECK_STR_EQ(c.public_url, "https://[::1]:8443");
    CHECK_STR_EQ(c.live_url, "wss://stream.example.com/x");
    sp_config_release(&c);

    const char *dflt[] = {"--public-url", "https://stampede.example.com:443", NULL};
    CHECK_INT_EQ(parse(&c, err, sizeof err, dflt), 0);
    CHECK_STR_EQ(c.public_url, "https://stampede.example.com");
    sp_config_release(&c);

    const char *with_path[] = {"--public-url", "https://example.com/stampede", NULL};
    CHECK_INT_EQ(parse(&c, err, sizeof err, with_path), SP_EINVAL);
    CHECK_STR_CONTAINS(err, "--public-url");
    CHECK_STR_CONTAINS(err, "only a scheme and a host");
    sp_config_release(&c);

    const char *userinfo[] = {"--public-url", "https://a@example.com", NULL};
    CHECK_INT_EQ(parse(&c, err, sizeof err, userinfo), SP_EINVAL);
    sp_config_release(&c);

    const char *not_http[] = {"--public-url", "ftp://example.com", NULL};
    CHECK_INT_EQ(parse(&c, err, sizeof err, not_http), SP_EINVAL);
    CHECK_STR_CONTAINS(err, "--public-url");
    sp_config_release(&c);

    const char *bad_live[] = {"--live-url", "https://example.com/live", NULL};
    CHECK_INT_EQ(parse(&c, err, sizeof err, bad_live), SP_EINVAL);
    CHECK_STR_CONTAINS(err, "--live-url");
    CHECK_STR_CONTAINS(err, "ws://");
    sp_config_release(&c);

    const char *quote[] = {"--live-url", "wss://example.com/\"x", NULL};
    CHECK_INT_EQ(parse(&c, err, sizeof err, quote), SP_EINVAL);
    sp_config_release(&c);
}

static void test_log_level(void)
{
    sp_config c;
    char err[512];
    const char *none[] = {NULL};
    CHECK_INT_EQ(parse(&c, err, sizeof err, none), 0);
    CHECK_INT_EQ(c.log_level, SP_LOG_INFO);
    sp_config_release(&c);
    const char *warn[] = {"--log-level", "warning", NULL};
    CHECK_INT_EQ(parse(&c, err, sizeof err, warn), 0);
    CHECK_INT_EQ(c.log_level, SP_LOG_WARN);
    sp_config_release(&c);
    const char *bad[] = {"--log-level", "loud", NULL};
    CHECK_INT_EQ(parse(&c, err, sizeof err, bad), SP_EINVAL);
    CHECK_STR_CONTAINS(err, "--log-level 'loud'");
    sp_config_release(&c);
    const char *typo[] = {"--log-levl", "info", NULL};
    CHECK_INT_EQ(parse(&c, err, sizeof err, typo), SP_EINVAL);
    CHECK_STR_CONTAINS(err, "did you mean '--log-level'");
    sp_config_release(&c);
}

static void test_file_keys(void)
{
    char path[] = "/tmp/stampede-config-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    const char text[] = "{\"log_level\": \"debug\", \"public_url\": \"https://s.example\","
                        " \"live_url\": \"wss://s.example/live/\", \"data_dir\": \"/var/lib/x\"}";
    CHECK(write(fd, text, sizeof text - 1) == (ssize_t)(sizeof text - 1));
    close(fd);
    sp_config c;
    char err[512];
    const char *args[] = {"--config", path, "--log-level", "error", NULL};
    CHECK_INT_EQ(parse(&c, err, sizeof err, args), 0);
    CHECK_INT_EQ(c.log_level, SP_LOG_ERROR); /* the command line wins */
    CHECK_STR_EQ(c.public_url, "https://s.example");
    CHECK_STR_EQ(c.live_url, "wss://s.example/live/");
    CHECK_STR_EQ(c.data_dir, "/var/lib/x");
    sp_config_release(&c);
    unlink(path);
}

/* The log writes to stderr: point it at a file for the duration of fn. */
static char *capture(void (*fn)(void))
{
    char path[] = "/tmp/stampede-log-XXXXXX";
    int fd = mkstemp(path);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    fn();
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    char *buf = sp_calloc(1, 8192);
    ssize_t n = pread(fd, buf, 8191, 0);
    buf[n > 0 ? n : 0] = '\0';
    close(fd);
    unlink(path);
    return buf;
}

static void log_some(void)
{
    sp_log(SP_LOG_DEBUG, "hidden %d", 1);
    sp_log(SP_LOG_WARN, "shown %d", 2);
    sp_log_kv(SP_LOG_ERROR, "kv", "path", "/a b\n\"c\"", "none", NULL, NULL);
}

static void test_log(void)
{
    sp_log_level lv;
    CHECK_INT_EQ(sp_log_level_parse("error", &lv), 0);
    CHECK_INT_EQ(lv, SP_LOG_ERROR);
    CHECK_INT_EQ(sp_log_level_parse("Error", &lv), SP_EINVAL);

    unsetenv("JOURNAL_STREAM");
    sp_log_init();
    sp_log_set_level(SP_LOG_INFO);
    char *out = capture(log_some);
    CHECK(strstr(out, "hidden") == NULL);
    CHECK_STR_CONTAINS(out, "level=warn msg=\"shown 2\" ts=");
    /* A value cannot forge a line: the newline and quotes are escaped. */
    CHECK_STR_CONTAINS(out, "level=error msg=kv path=\"/a b\\n\\\"c\\\"\" none=- ts=");
    CHECK_INT_EQ((int)(strchr(out, '\n') - out) > 0, 1);
    free(out);

    /* Under systemd: no timestamp (the journal has its own), a priority prefix instead. */
    setenv("JOURNAL_STREAM", "8:12345", 1);
    sp_log_init();
    sp_log_set_level(SP_LOG_DEBUG);
    out = capture(log_some);
    CHECK_STR_CONTAINS(out, "<7>level=debug msg=\"hidden 1\"\n");
    CHECK_STR_CONTAINS(out, "<4>level=warn msg=\"shown 2\"\n");
    CHECK(strstr(out, "ts=") == NULL);
    free(out);
    unsetenv("JOURNAL_STREAM");
    sp_log_init();
    sp_log_set_level(SP_LOG_INFO);
}

int main(void)
{
    RUN(test_public_url);
    RUN(test_log_level);
    RUN(test_file_keys);
    RUN(test_log);
    return check_summary();
}
