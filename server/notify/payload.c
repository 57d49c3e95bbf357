/*
 * payload.c - see payload.h.
 */
#include "notify/payload.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/json.h"
#include "engine/banned.h"

const char *const sp_payload_events[] = {"run.ended",   "run.failed", "run.regressed",
                                         "run.aborted", "agent.lost", NULL};

int sp_payload_event_known(const char *name)
{
    for (size_t i = 0; name && sp_payload_events[i]; i++)
        if (strcmp(name, sp_payload_events[i]) == 0)
            return 1;
    return 0;
}

/* A copy of src's member key when it has the wanted kind, else null (new reference). */
static json_t *pick(const json_t *src, const char *key, char kind)
{
    json_t *v = json_object_get(src, key); /* borrowed */
    switch (kind) {
    case 'i':
        return json_is_integer(v) ? json_integer(json_integer_value(v)) : json_null();
    case 'n':
        return json_is_number(v) && isfinite(json_number_value(v)) ? json_real(json_number_value(v))
                                                                   : json_null();
    case 'b':
        return json_is_boolean(v) ? json_boolean(json_is_true(v)) : json_null();
    default:
        /* Strings are re-made, so text that is not UTF-8 (it cannot be, from Jansson) or holds
         * a NUL byte never reaches a receiver as it came. */
        return json_is_string(v) ? sp_json_string(json_string_value(v)) : json_null();
    }
}

static json_t *run_part(const json_t *run)
{
    static const struct {
        const char *key;
        char kind;
    } fields[] = {{"id", 'i'},          {"test_id", 'i'},    {"test_name", 's'},
                  {"revision", 'i'},    {"status", 's'},     {"origin", 's'},
                  {"schedule_id", 'i'}, {"started_by", 's'}, {"created_at", 'i'},
                  {"started_at", 'i'},  {"ended_at", 'i'},   {"error", 's'}};
    json_t *o = json_object();
    for (size_t i = 0; i < SP_ARRAY_LEN(fields); i++)
        json_object_set_new(o, fields[i].key, pick(run, fields[i].key, fields[i].kind));
    json_object_set_new(o, "duration_s", pick(json_object_get(run, "summary"), "duration_s", 'n'));
    return o;
}

/* At most this many verdicts are sent (a definition holds at most SP_DEF_MAX_THRESHOLDS). */
static json_t *verdicts_part(const json_t *run)
{
    json_t *out = json_array();
    const json_t *v = json_object_get(run, "verdicts");
    size_t i;
    json_t *e;
    json_array_foreach((json_t *)v, i, e)
    {
        if (i >= SP_DEF_MAX_THRESHOLDS)
            break;
        if (!json_is_object(e))
            continue;
        json_array_append_new(
            out, json_pack("{s:o, s:o, s:o, s:o, s:o}", "threshold", pick(e, "threshold", 's'),
                           "passed", pick(e, "passed", 'b'), "measured", pick(e, "measured", 'n'),
                           "metric", pick(e, "metric", 's'), "name", pick(e, "name", 's')));
    }
    return out;
}

static json_t *figures_part(const json_t *run)
{
    const json_t *total = json_object_get(json_object_get(run, "summary"), "total");
    if (!json_is_object(total))
        return json_null();
    const json_t *lat = json_object_get(total, "latency_ms");
    return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "requests",
                     pick(total, "requests", 'i'), "failures", pick(total, "failures", 'i'),
                     "error_rate", pick(total, "error_rate", 'n'), "rps", pick(total, "rps", 'n'),
                     "p50_ms", pick(lat, "p50", 'n'), "p95_ms", pick(lat, "p95", 'n'), "p99_ms",
                     pick(lat, "p99", 'n'), "max_ms", pick(lat, "max", 'n'));
}

/* Text for Slack's mrkdwn: &, < and > escaped (Slack reads <...> as links and mentions). */
static void slack_text(sp_buf *b, const char *s)
{
    for (; s && *s; s++) {
        if (*s == '&')
            sp_buf_adds(b, "&amp;");
        else if (*s == '<')
            sp_buf_adds(b, "&lt;");
        else if (*s == '>')
            sp_buf_adds(b, "&gt;");
        else if ((unsigned char)*s >= 0x20 || *s == '\n')
            sp_buf_addc(b, *s);
    }
}

/* A link for Slack: <url|text>; url is ours (the server's address and a number), but '|' and
 * '>' would end it early, so they are escaped too. */
static void slack_link(sp_buf *b, const char *url, const char *text)
{
    sp_buf_addc(b, '<');
    for (const char *p = url; *p; p++) {
        if (*p == '|' || *p == '>' || *p == '<' || (unsigned char)*p < 0x20)
            sp_buf_addf(b, "%%%02X", (unsigned char)*p);
        else
            sp_buf_addc(b, *p);
    }
    sp_buf_addc(b, '|');
    slack_text(b, text);
    sp_buf_addc(b, '>');
}

static const char *event_words(const char *event, const char *status)
{
    if (strcmp(event, "run.failed") == 0)
        return strcmp(status, "error") == 0 ? "could not start" : "failed its thresholds";
    if (strcmp(event, "run.aborted") == 0)
        return "was aborted (the server stopped while it was going)";
    if (strcmp(event, "run.regressed") == 0)
        return "regressed against its baseline";
    return NULL;
}

static char *finish(json_t *doc, size_t *len)
{
    char *text = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(6));
    json_decref(doc);
    if (!text)
        return NULL;
    *len = strlen(text);
    if (*len > SP_NOTIFY_BODY_MAX) {
        free(text);
        return NULL;
    }
    return text;
}

static char *slack_run(const char *event, const json_t *run, const char *server, size_t *len)
{
    json_int_t id = json_integer_value(json_object_get(run, "id"));
    const char *test = json_string_value(json_object_get(run, "test_name"));
    const char *status = json_string_value(json_object_get(run, "status"));
    const char *origin = json_string_value(json_object_get(run, "origin"));
    const json_t *total = json_object_get(json_object_get(run, "summary"), "total");
    status = status ? status : "unknown";
    const char *words = event_words(event, status);
    char url[600], label[48], st_words[64];
    snprintf(url, sizeof url, "%s/#/runs/%lld", server, (long long)id);
    snprintf(label, sizeof label, "Run #%lld", (long long)id);
    snprintf(st_words, sizeof st_words, "ended: %s", status);
    sp_buf b;
    sp_buf_init(&b, SP_NOTIFY_BODY_MAX);
    slack_link(&b, url, label);
    sp_buf_adds(&b, " of *");
    slack_text(&b, test ? test : "?");
    sp_buf_adds(&b, "* ");
    /* The status is one of a few names, but the builder takes no run's word for it. */
    slack_text(&b, words ? words : st_words);
    if (origin && strcmp(origin, "scheduled") == 0)
        sp_buf_adds(&b, " (scheduled)");
    if (json_is_object(total)) {
        const json_t *lat = json_object_get(total, "latency_ms");
        sp_buf_addf(&b, "\n%lld requests, %.1f/s, p95 %.1f ms, %.2f%% errors",
                    (long long)json_integer_value(json_object_get(total, "requests")),
                    json_number_value(json_object_get(total, "rps")),
                    json_number_value(json_object_get(lat, "p95")),
                    100.0 * json_number_value(json_object_get(total, "error_rate")));
    }
    size_t i;
    json_t *v;
    size_t missed = 0, all = 0;
    json_array_foreach(json_object_get(run, "verdicts"), i, v)
    {
        all++;
        missed += json_is_false(json_object_get(v, "passed"));
    }
    if (all)
        sp_buf_addf(&b, "\nThresholds: %zu of %zu held", all - missed, all);
    const char *error = json_string_value(json_object_get(run, "error"));
    if (error) {
        char cut[501];
        snprintf(cut, sizeof cut, "%s", error);
        sp_buf_adds(&b, "\nError: ");
        slack_text(&b, cut);
    }
    char report[600];
    snprintf(report, sizeof report, "%s/api/v1/runs/%lld/export.html", server, (long long)id);
    sp_buf ctx;
    sp_buf_init(&ctx, 4096);
    slack_link(&ctx, report, "HTML report");
    /* sp_json_string: a text cut at the buffer's cap inside a character still serialises. */
    json_t *doc =
        json_pack("{s:o, s:[{s:s, s:{s:s, s:o}}, {s:s, s:[{s:s, s:o}]}]}", "text",
                  sp_json_string(b.p ? b.p : ""), "blocks", "type", "section", "text", "type",
                  "mrkdwn", "text", sp_json_string(b.p ? b.p : ""), "type", "context", "elements",
                  "type", "mrkdwn", "text", sp_json_string(ctx.p ? ctx.p : ""));
    sp_buf_release(&b);
    sp_buf_release(&ctx);
    return doc ? finish(doc, len) : NULL;
}

char *sp_payload_run(const char *event, const json_t *run, const char *format, const char *server,
                     int64_t now_ms, size_t *len)
{
    *len = 0;
    server = server ? server : "";
    if (format && strcmp(format, "slack") == 0)
        return slack_run(event, run, server, len);
    json_int_t id = json_integer_value(json_object_get(run, "id"));
    char run_url[600], report[600];
    snprintf(run_url, sizeof run_url, "%s/#/runs/%lld", server, (long long)id);
    snprintf(report, sizeof report, "%s/api/v1/runs/%lld/export.html", server, (long long)id);
    json_t *doc =
        json_pack("{s:o, s:I, s:o, s:o, s:o, s:o, s:{s:o, s:o}}", "event", sp_json_string(event),
                  "created_at", (json_int_t)now_ms, "server", sp_json_string(server), "run",
                  run_part(run), "verdicts", verdicts_part(run), "figures", figures_part(run),
                  "links", "run", sp_json_string(run_url), "report", sp_json_string(report));
    return doc ? finish(doc, len) : NULL;
}

char *sp_payload_ping(int64_t hook_id, const char *hook_name, const char *format,
                      const char *server, int64_t now_ms, size_t *len)
{
    *len = 0;
    server = server ? server : "";
    json_t *doc;
    if (format && strcmp(format, "slack") == 0) {
        sp_buf b;
        sp_buf_init(&b, 4096);
        sp_buf_adds(&b, "Stampede says hello: the webhook *");
        slack_text(&b, hook_name ? hook_name : "");
        sp_buf_adds(&b, "* works.");
        doc = json_pack("{s:o}", "text", sp_json_string(b.p ? b.p : ""));
        sp_buf_release(&b);
    } else {
        doc = json_pack("{s:s, s:I, s:o, s:{s:I, s:o}}", "event", "ping", "created_at",
                        (json_int_t)now_ms, "server", sp_json_string(server), "webhook", "id",
                        (json_int_t)hook_id, "name", sp_json_string(hook_name ? hook_name : ""));
    }
    return doc ? finish(doc, len) : NULL;
}

void sp_payload_sign(const char *secret, size_t secret_len, const void *body, size_t len, char *out)
{
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    /* The _init form takes a key of any length, as HMAC does: the secret's bytes are the key,
     * so a receiver computes the same with any HMAC library. */
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, secret_len);
    crypto_auth_hmacsha256_update(&st, body, len);
    crypto_auth_hmacsha256_final(&st, mac);
    memcpy(out, "sha256=", 7);
    sodium_bin2hex(out + 7, SP_PAYLOAD_SIG_LEN - 7, mac, sizeof mac);
    sodium_memzero(&st, sizeof st);
}
