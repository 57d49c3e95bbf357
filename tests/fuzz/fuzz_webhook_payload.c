/*
 * fuzz_webhook_payload.c - the webhook body builder (server/notify/payload.h) on any run
 * document. The input's first byte picks the event and the format; the rest is parsed as JSON
 * (as the store would answer a run; a refused document is skipped). Whatever the document
 * holds, each body must be JSON within SP_NOTIFY_BODY_MAX, carry the event, and in Slack's
 * format every '<' must open one of the server's own links.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/json.h"
#include "engine/common.h"
#include "notify/payload.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SERVER "http://127.0.0.1:8484"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *event = sp_payload_events[data[0] % 5];
    const char *format = data[0] & 0x80 ? "slack" : "stampede";
    json_t *run = NULL;
    char msg[128];
    if (sp_json_parse((const char *)data + 1, size - 1, SP_HTTP_MAX_DEPTH, &run, msg, sizeof msg) !=
        0)
        return 0;
    size_t len = 0;
    char *body = sp_payload_run(event, run, format, SERVER, 1774746000000LL, &len);
    if (body) {
        if (len != strlen(body) || len > SP_NOTIFY_BODY_MAX)
            abort();
        json_t *doc = json_loads(body, JSON_REJECT_DUPLICATES, NULL);
        if (!json_is_object(doc))
            abort();
        if (strcmp(format, "stampede") == 0) {
            if (strcmp(json_string_value(json_object_get(doc, "event")), event) != 0)
                abort();
        } else {
            const char *text = json_string_value(json_object_get(doc, "text"));
            if (!text)
                abort();
            for (const char *p = strchr(text, '<'); p; p = strchr(p + 1, '<'))
                if (strncmp(p, "<" SERVER "/", sizeof SERVER) != 0)
                    abort();
        }
        json_decref(doc);
        free(body);
    }
    json_decref(run);
    return 0;
}
