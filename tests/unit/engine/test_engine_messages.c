/*
 * test_engine_messages.c - failure messages quote JSON values exactly: a value too long for the
 * message is cut to a prefix of its own text followed by "...", never bytes from elsewhere
 * (json_dumpb() leaves its buffer untouched when the text does not fit), and the same failure
 * gives the same message every time, so it is counted under one entry.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "engine/engine.h"
#include "engine/testserver.h"

static testserver srv;

static void test_long_value_cut_cleanly(void)
{
    char q[101];
    memset(q, 'q', 100);
    q[100] = '\0';
    char text[1024];
    snprintf(text, sizeof text,
             "{\"name\":\"t\",\"base_url\":\"http://x\","
             "\"users\":[{\"name\":\"u\",\"think\":{\"constant_ms\":10},\"tasks\":[{\"steps\":["
             "{\"request\":{\"url\":\"/ok\",\"name\":\"eq\"},"
             "\"expect\":{\"json\":[{\"path\":\"n\",\"equals\":\"%s\"}]}}"
             "]}]}],\"load\":{\"users\":2,\"duration\":\"500ms\"}}",
             q);
    sp_def *d = ts_load_def_at(text, srv.port);
    CHECK(d != NULL);
    unsigned long ok0 = atomic_load(&srv.ok);
    sp_engine_opts o = {.threads = 1, .seed = 3};
    sp_engine *e = NULL;
    char err[256];
    CHECK_INT_EQ(sp_engine_new(d, &o, &e, err, sizeof err), 0);
    CHECK_INT_EQ(sp_engine_start(e), 0);
    CHECK_INT_EQ(sp_engine_wait(e), 0);
    const sp_stats *t = sp_engine_totals(e);
    const sp_name_stats *n = &t->names[0];
    /* Every response the server sent failed once, under one message. */
    CHECK(n->requests > 1);
    CHECK_UINT_EQ(n->requests, atomic_load(&srv.ok) - ok0);
    CHECK_UINT_EQ(n->failures, n->requests);
    CHECK_UINT_EQ(n->nmsgs, 1);
    CHECK_UINT_EQ(n->msgs[0].count, n->failures);
    /* The quoted value is its first 60 bytes (the quote and 59 q) and "...". */
    char want[200];
    snprintf(want, sizeof want, "expected JSON path 'n' to equal \"%.59s..., got 7", q);
    CHECK_STR_EQ(n->msgs[0].msg, want);
    sp_engine_free(e);
    sp_def_free(d);
}

int main(void)
{
    if (testserver_start(&srv) != 0) {
        fprintf(stderr, "could not start the test server\n");
        return 1;
    }
    RUN(test_long_value_cut_cleanly);
    testserver_stop(&srv);
    return check_summary();
}
