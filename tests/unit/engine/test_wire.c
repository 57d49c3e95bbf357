/*
 * test_wire.c - the agent protocol's messages (engine/wire.h): every type round-trips through
 * encode and decode, a second's stats come back identical through the packed form (every
 * counter, bucket and message; percentiles, mean and max to the bit), every malformed form,
 * JSON or packed, is refused with a reason naming the field, another protocol
 * version is told apart from a malformed message, and the clock offset picks the sample with
 * the least round trip.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "engine/common.h"
#include "engine/histogram.h"
#include "engine/metrics.h"
#include "engine/wire.h"

#define NNAMES 3

static int round_trip(const sp_wire_msg *in, const sp_stats *s, sp_wire_msg *out)
{
    size_t len;
    char *text = sp_wire_encode(in, s, &len);
    char err[256];
    int rc = sp_wire_decode(text, len, out, err, sizeof err);
    if (rc)
        fprintf(stderr, "    decode: %s\n    of: %s\n", err, text);
    free(text);
    return rc;
}

static void test_hello_round_trip(void)
{
    sp_wire_msg m, d;
    sp_wire_msg_init(&m, SP_WIRE_HELLO);
    snprintf(m.version, sizeof m.version, "1.2.3");
    snprintf(m.name, sizeof m.name, "agent-1");
    snprintf(m.location, sizeof m.location, "eu-west");
    m.cores = 8;
    m.threads = 4;
    m.max_vus = 5000;
    CHECK_INT_EQ(round_trip(&m, NULL, &d), 0);
    CHECK_INT_EQ(d.type, SP_WIRE_HELLO);
    CHECK_STR_EQ(d.version, "1.2.3");
    CHECK_STR_EQ(d.name, "agent-1");
    CHECK_STR_EQ(d.location, "eu-west");
    CHECK_UINT_EQ(d.cores, 8);
    CHECK_UINT_EQ(d.threads, 4);
    CHECK_UINT_EQ(d.max_vus, 5000);
    sp_wire_msg_release(&d);
}

static void test_control_round_trips(void)
{
    sp_wire_msg m, d;
    sp_wire_msg_init(&m, SP_WIRE_TIME);
    m.t0 = 1700000000123456789;
    m.t1 = 1700000000123999999;
    m.t2 = 1700000000124000000;
    CHECK_INT_EQ(round_trip(&m, NULL, &d), 0);
    CHECK(d.t0 == m.t0 && d.t1 == m.t1 && d.t2 == m.t2);
    sp_wire_msg_release(&d);

    sp_wire_msg_init(&m, SP_WIRE_HEARTBEAT);
    m.has_health = 1;
    m.run_id = 7;
    m.cpu = 55.5;
    m.lag_ms = 1.25;
    m.dropped = 3;
    m.has_offset = 1;
    m.offset_ns = -1500000;
    CHECK_INT_EQ(round_trip(&m, NULL, &d), 0);
    CHECK(d.has_offset && d.offset_ns == -1500000);
    CHECK(d.has_health && d.run_id == 7 && d.cpu == 55.5 && d.lag_ms == 1.25 && d.dropped == 3);

    sp_wire_msg_init(&m, SP_WIRE_HEARTBEAT);
    CHECK_INT_EQ(round_trip(&m, NULL, &d), 0);
    CHECK_INT_EQ(d.has_health, 0);

    sp_wire_msg_init(&m, SP_WIRE_STOP);
    m.run_id = 9;
    m.graceful = 1;
    CHECK_INT_EQ(round_trip(&m, NULL, &d), 0);
    CHECK(d.type == SP_WIRE_STOP && d.run_id == 9 && d.graceful == 1);

    sp_wire_msg_init(&m, SP_WIRE_SET_TARGET);
    m.run_id = 9;
    m.target = 12;
    m.ramp_ms = 500;
    CHECK_INT_EQ(round_trip(&m, NULL, &d), 0);
    CHECK(d.target == 12 && d.ramp_ms == 500);

    sp_wire_msg_init(&m, SP_WIRE_END);
    m.run_id = 9;
    m.last_second = 41;
    CHECK_INT_EQ(round_trip(&m, NULL, &d), 0);
    CHECK_INT_EQ(d.last_second, 41);

    sp_wire_msg_init(&m, SP_WIRE_REFUSE);
    snprintf(m.reason, sizeof m.reason, "protocol 2 is not 1");
    CHECK_INT_EQ(round_trip(&m, NULL, &d), 0);
    CHECK_STR_EQ(d.reason, "protocol 2 is not 1");
}

static void test_assign_round_trip(void)
{
    sp_wire_msg m, d;
    sp_wire_msg_init(&m, SP_WIRE_ASSIGN);
    m.run_id = 3;
    m.def = json_pack("{s:s}", "name", "t");
    m.allowlist = json_pack("[s]", "127.0.0.0/8");
    m.vu_offset = 31;
    m.fraction = 0.3;
    m.share_from = 0.2;
    m.share_to = 0.5;
    m.csv_index = 1;
    m.csv_count = 3;
    m.start_ns = 1700000000000000000;
    CHECK_INT_EQ(round_trip(&m, NULL, &d), 0);
    CHECK_UINT_EQ(d.vu_offset, 31);
    CHECK(d.fraction == 0.3 && d.share_from == 0.2 && d.share_to == 0.5);
    CHECK(d.csv_index == 1 && d.csv_count == 3 && d.start_ns == m.start_ns);
    CHECK_STR_EQ(json_string_value(json_object_get(d.def, "name")), "t");
    CHECK_STR_EQ(json_string_value(json_array_get(d.allowlist, 0)), "127.0.0.0/8");
    sp_wire_msg_release(&m);
    sp_wire_msg_release(&d);
}

static void fill(sp_stats *s, unsigned seed)
{
    srand(seed);
    for (int i = 0; i < 5000; i++) {
        uint64_t us = (uint64_t)(rand() % 200000) + 1;
        int fails = rand() % 10 == 0;
        sp_name_stats_record(&s->names[i % 2], us, fails ? 500 : 200,
                             fails ? SP_ERRK_HTTP_STATUS : -1, fails ? "status 500" : NULL, 100,
                             50);
    }
    s->iterations = 77;
    s->active_vus = 5;
    s->target_vus = 6;
    s->lag_us_max = 1234;
}

/* back is s as it came through the wire; msgs: compare the failure messages' text too. */
static void check_same(const sp_stats *s, const sp_stats *back, int msgs)
{
    CHECK_UINT_EQ(back->iterations, s->iterations);
    CHECK_UINT_EQ(back->active_vus, s->active_vus);
    CHECK_UINT_EQ(back->target_vus, s->target_vus);
    CHECK_UINT_EQ(back->lag_us_max, s->lag_us_max);
    CHECK_UINT_EQ(back->arrivals, s->arrivals);
    CHECK(back->target_rate == s->target_rate);
    for (size_t i = 0; i < NNAMES; i++) {
        const sp_name_stats *a = &s->names[i], *b = &back->names[i];
        if (a->requests) /* an empty name keeps its flag through a reset (metrics.h) */
            CHECK_UINT_EQ(b->group, a->group);
        CHECK_UINT_EQ(b->requests, a->requests);
        CHECK_UINT_EQ(b->failures, a->failures);
        for (size_t c = 0; c < SP_STATUS_MAX; c++)
            CHECK_UINT_EQ(b->status[c], a->status[c]);
        for (size_t k = 0; k < SP_ERRK_COUNT; k++)
            CHECK_UINT_EQ(b->errors[k], a->errors[k]);
        CHECK_UINT_EQ(b->bytes_in, a->bytes_in);
        CHECK_UINT_EQ(b->bytes_out, a->bytes_out);
        CHECK_UINT_EQ(b->msgs_dropped, a->msgs_dropped);
        CHECK_UINT_EQ(b->nmsgs, a->nmsgs);
        for (size_t k = 0; k < a->nmsgs && k < b->nmsgs; k++) {
            if (msgs)
                CHECK_STR_EQ(b->msgs[k].msg, a->msgs[k].msg);
            CHECK_UINT_EQ(b->msgs[k].count, a->msgs[k].count);
        }
        CHECK_UINT_EQ(sp_hist_count(b->hist), sp_hist_count(a->hist));
        CHECK_UINT_EQ(sp_hist_min(b->hist), sp_hist_min(a->hist));
        CHECK_UINT_EQ(sp_hist_max(b->hist), sp_hist_max(a->hist));
        CHECK_UINT_EQ(sp_hist_sum(b->hist), sp_hist_sum(a->hist));
        for (size_t k = 0; k < sp_hist_buckets(); k++)
            CHECK_UINT_EQ(sp_hist_bucket_count(b->hist, k), sp_hist_bucket_count(a->hist, k));
        for (double p = 1; p <= 100; p += 0.5)
            CHECK_UINT_EQ(sp_hist_percentile(b->hist, p), sp_hist_percentile(a->hist, p));
    }
}

/* Through the wire and into back, which holds whatever the last second left in it. */
static int second_through(const sp_stats *s, sp_stats *back)
{
    sp_wire_msg m, d;
    sp_wire_msg_init(&m, SP_WIRE_SECOND);
    m.run_id = 4;
    m.second = 12;
    size_t len;
    char *text = sp_wire_encode(&m, s, &len);
    char err[256];
    int rc = sp_wire_decode(text, len, &d, err, sizeof err);
    if (!rc && !(d.type == SP_WIRE_SECOND && d.second == 12 && d.run_id == 4 && d.body)) {
        snprintf(err, sizeof err, "the header did not come back");
        rc = -1;
    }
    if (!rc)
        rc = sp_wire_stats_decode(d.body, d.body_len, NNAMES, back, err, sizeof err);
    if (rc)
        fprintf(stderr, "    %s\n    of: %s\n", err, text);
    sp_wire_msg_release(&d);
    free(text);
    return rc;
}

static void test_second_exact(void)
{
    sp_stats s, back;
    sp_stats_init(&s, NNAMES);
    sp_stats_init(&back, NNAMES);
    fill(&s, 1);
    s.arrivals = 40;
    s.target_rate = 41.3333333333333;
    s.names[0].msgs_dropped = 2;
    sp_name_stats_record(&s.names[0], 5, 0, SP_ERRK_RESET, "reset\nby peer \xff", 0, 0);
    sp_name_stats_record_group(&s.names[2], 90000, -1, NULL);
    CHECK_INT_EQ(second_through(&s, &back), 0);
    check_same(&s, &back, 0);
    /* What cannot go on one line of a UTF-8 text frame is replaced, nothing else. */
    CHECK_STR_EQ(back.names[0].msgs[1].msg, "reset by peer ?");
    CHECK_STR_EQ(back.names[0].msgs[0].msg, "status 500");
    CHECK_UINT_EQ(back.names[2].group, 1);
    /* The next second into the same stats (as the server reuses them), narrower and with a name
     * less: nothing of the first is left behind (the reset clears the buckets it used). */
    sp_stats s2;
    sp_stats_init(&s2, NNAMES);
    for (int i = 0; i < 50; i++)
        sp_name_stats_record(&s2.names[1], 1000 + (uint64_t)i, 200, -1, NULL, 1, 1);
    CHECK_INT_EQ(second_through(&s2, &back), 0);
    check_same(&s2, &back, 1);
    /* An empty second: the stats line alone. */
    sp_stats_reset(&s2);
    CHECK_INT_EQ(second_through(&s2, &back), 0);
    check_same(&s2, &back, 1);
    sp_stats_release(&s2);
    sp_stats_release(&s);
    sp_stats_release(&back);
}

/* Each malformed message is refused, and the reason names what is wrong. */
static void test_malformed_messages(void)
{
    static const struct {
        const char *text, *reason;
    } cases[] = {
        {"", "not JSON"},
        {"[1]", "must be a JSON object"},
        {"{\"v\":2}", "type"},
        {"{\"type\":\"nope\",\"v\":2}", "unknown message type"},
        {"{\"type\":\"bye\"}", "v: missing"},
        {"{\"type\":\"bye\",\"v\":\"1\"}", "v: must be an integer"},
        {"{\"type\":\"hello\",\"v\":2,\"version\":\"1\",\"name\":\"a\",\"location\":\"x y\","
         "\"cores\":1,\"threads\":1,\"max_vus\":1}",
         "location: may hold only"},
        {"{\"type\":\"hello\",\"v\":2,\"version\":\"1\",\"name\":\"\",\"location\":\"x\","
         "\"cores\":1,\"threads\":1,\"max_vus\":1}",
         "name: must not be empty"},
        {"{\"type\":\"hello\",\"v\":2,\"version\":\"1\",\"name\":"
         "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\"location\":\"x\","
         "\"cores\":1,\"threads\":1,\"max_vus\":1}",
         "name: longer than 64"},
        {"{\"type\":\"hello\",\"v\":2,\"version\":\"1\",\"name\":\"a\",\"location\":\"x\","
         "\"cores\":-1,\"threads\":1,\"max_vus\":1}",
         "cores: -1 is out of range"},
        {"{\"type\":\"hello\",\"v\":2,\"version\":\"1\",\"name\":\"a\",\"location\":\"x\","
         "\"cores\":1,\"threads\":1}",
         "max_vus: missing"},
        {"{\"type\":\"stop\",\"v\":2,\"run\":1}", "graceful: must be true or false"},
        {"{\"type\":\"time\",\"v\":2,\"t0\":5,\"t1\":9,\"t2\":8}", "t2: earlier than t1"},
        {"{\"type\":\"assign\",\"v\":2,\"run\":1,\"vu_offset\":0,\"fraction\":0.5,\"share_from\":0,"
         "\"share_to\":0.5,\"csv_index\":2,"
         "\"csv_count\":2,\"start_ns\":1,\"definition\":{}}",
         "csv_index: 2 is not below csv_count 2"},
        {"{\"type\":\"assign\",\"v\":2,\"run\":1,\"vu_offset\":0,\"fraction\":1.5,\"share_from\":0,"
         "\"share_to\":0.5,\"csv_index\":0,"
         "\"csv_count\":1,\"start_ns\":1,\"definition\":{}}",
         "fraction: 1.5 is out of range"},
        {"{\"type\":\"assign\",\"v\":2,\"run\":1,\"vu_offset\":0,\"fraction\":0.5,\"share_from\":0,"
         "\"share_to\":0.5,\"csv_index\":0,"
         "\"csv_count\":1,\"start_ns\":1,\"definition\":[]}",
         "definition: must be an object"},
        {"{\"type\":\"second\",\"v\":2,\"run\":1,\"second\":1,\"stats\":{}}",
         "a second is sent packed"},
        {"second 2 1 99999999999\n", "second: 99999999999 is more than"},
        {"second 2 1\n", "second: missing"},
        {"second 2 x 1\n", "run: must be a whole number"},
        {"second 2 1 1", "second: the line must end here"},
        {"second 2 1 1 \n", "second: the line must end here"},
        {"second 2 -1 1\n", "run: must be a whole number"},
        {"second 2  1 1\n", "run: must be a whole number"},
        {"second  2 1 1\n", "v: must be a whole number"},
        {"second 2 99999999999999999999 1\n", "run: must be a whole number"},
        {"{\"type\":\"end\",\"v\":2,\"run\":1,\"last_second\":-2}", "last_second: -2 is out"},
        {"{\"type\":\"bye\",\"v\":2,\"reason\":\"a\\u0001\"}", "control character"},
        {"{\"type\":\"bye\",\"type\":\"bye\",\"v\":2}", "not JSON"},
    };
    for (size_t i = 0; i < SP_ARRAY_LEN(cases); i++) {
        sp_wire_msg m;
        char err[256];
        int rc = sp_wire_decode(cases[i].text, strlen(cases[i].text), &m, err, sizeof err);
        if (rc != SP_EINVAL || !strstr(err, cases[i].reason))
            fprintf(stderr, "    case %zu: rc %d, '%s'\n", i, rc, err);
        CHECK_INT_EQ(rc, SP_EINVAL);
        CHECK_STR_CONTAINS(err, cases[i].reason);
        CHECK(m.def == NULL && m.body == NULL && m.allowlist == NULL);
    }
}

static void test_oversized_and_deep(void)
{
    sp_wire_msg m;
    char err[256];
    size_t n = SP_WIRE_MAX_BYTES + 1;
    char *big = sp_malloc(n);
    memset(big, ' ', n);
    CHECK_INT_EQ(sp_wire_decode(big, n, &m, err, sizeof err), SP_ELIMIT);
    CHECK_STR_CONTAINS(err, "more than");
    memset(big, '[', 100);
    CHECK_INT_EQ(sp_wire_decode(big, 100, &m, err, sizeof err), SP_ELIMIT);
    CHECK_STR_CONTAINS(err, "nested deeper");
    free(big);
}

static void test_other_protocol(void)
{
    const char *t = "{\"type\":\"hello\",\"v\":3,\"version\":\"9.0\",\"name\":\"a1\"}";
    sp_wire_msg m;
    char err[256];
    CHECK_INT_EQ(sp_wire_decode(t, strlen(t), &m, err, sizeof err), SP_ESTATE);
    CHECK_UINT_EQ(m.v, 3);
    CHECK_INT_EQ(m.type, SP_WIRE_HELLO);
    CHECK_STR_EQ(m.version, "9.0");
    CHECK_STR_CONTAINS(err, "protocol 3, this side speaks 2");
    /* An agent of protocol 1, whose seconds were JSON: its hello is told apart too. */
    t = "{\"type\":\"hello\",\"v\":1,\"version\":\"0.1.0\",\"name\":\"old\"}";
    CHECK_INT_EQ(sp_wire_decode(t, strlen(t), &m, err, sizeof err), SP_ESTATE);
    CHECK_UINT_EQ(m.v, 1);
    CHECK_STR_EQ(m.name, "old");
    /* A packed second of another version is not read further. */
    t = "second 3 1 1\nanything";
    CHECK_INT_EQ(sp_wire_decode(t, strlen(t), &m, err, sizeof err), SP_ESTATE);
    CHECK_UINT_EQ(m.v, 3);
    CHECK_STR_CONTAINS(err, "protocol 3, this side speaks 2");
}

#define SLINE "s 1 0 1 1 0 0 0 0 0\n"
#define OK1 "n 0 0 1 0 0 0 0 5 5 5 200:1 - 5:1\n"

/* Every malformed packed stats body is refused whole, naming the field. */
static void test_malformed_stats(void)
{
    static char long_msg[600], many_msgs[2000];
    snprintf(long_msg, sizeof long_msg, SLINE "n 0 0 1 1 0 0 0 5 5 5 200:1 6:1 5:1\nm 1 %0300d\n",
             0);
    size_t n = (size_t)snprintf(many_msgs, sizeof many_msgs,
                                SLINE "n 0 0 1 1 0 0 0 5 5 5 200:1 6:1 5:1\n");
    for (int k = 0; k <= SP_FAIL_MSGS_PER_NAME; k++)
        n += (size_t)snprintf(many_msgs + n, sizeof many_msgs - n, "m 1 msg %d\n", k);
    const struct {
        const char *body, *reason;
    } cases[] = {
        {"", "must start with 's'"},
        {"x\n", "must start with 's'"},
        {"s 1 0 1 1 0 0 0 0\n", "arrivals_lag_us: missing"},
        {"s 1 0 1 1 0 0 0 0 0 0\n", "stats: the line must end here"},
        {"s 1 0 1 1 0 0 0 0 0", "stats: the line must end here"},
        {"s 1 0 99999999 1 0 0 0 0 0\n", "active_vus: 99999999 is more than"},
        {"s 1 0 1 1 0 0 inf 0 0\n", "target_rate: must be a number"},
        {"s 1 0 1 1 0 0 0x10 0 0\n", "target_rate: must be a number"},
        {"s 1 0 1 1 0 0 1e13 0 0\n", "target_rate: must be a number"},
        {"s 1 0 1 1 0 0 -1 0 0\n", "target_rate: must be a number"},
        {"s 1 0 1 1 0 0 1..2 0 0\n", "target_rate: must be a number"},
        {"s -1 0 1 1 0 0 0 0 0\n", "iterations: must be a whole number"},
        {"s 1 0 1 1 0 0 0 0 0\r\n", "arrivals_lag_us: must be a whole number"},
        {SLINE "n 3 0 1 0 0 0 0 5 5 5 200:1 - 5:1\n", "names[0].i: 3 is not a name of this run"},
        {SLINE "n 0 0 1 0 0 0 0 5 5 5 200:1 - 999999:1\n", "outside [0, 3840)"},
        {SLINE "n 0 0 2 0 0 0 0 5 5 10 200:2 - 5:1\n",
         "hist: counts add up to 1, not to its 2 requests"},
        {SLINE "n 0 0 1 0 0 0 0 5 5 5 200:2 - 5:1\n", "status: counts add up to 2"},
        {SLINE "n 0 0 1 2 0 0 0 5 5 5 200:1 - 5:1\n", "failures: more than its requests"},
        {SLINE "n 0 0 1 1 0 0 0 5 5 5 200:1 - 5:1\n", "errors: counts add up to 0, not to its 1"},
        {SLINE "n 0 0 1 1 0 0 0 5 5 5 200:1 99:1 5:1\n", "errors: pair 0: index 99 is outside"},
        {SLINE "n 0 0 1 0 0 0 0 5 5 5 600:1 - 5:1\n", "status: pair 0: index 600 is outside"},
        {SLINE "n 0 0 1 0 0 0 0 7 5 5 200:1 - 5:1\n", "do not fit its buckets"},
        {SLINE "n 0 0 1 0 0 0 0 5 5 500 200:1 - 5:1\n", "do not fit its buckets"},
        {SLINE "n 0 0 2 0 0 0 0 5 5 10 200:2 - 5:1,5:1\n", "indexes must increase"},
        {SLINE "n 0 0 2 0 0 0 0 5 6 11 200:2 - 6:1,5:1\n", "indexes must increase"},
        {SLINE "n 0 0 1 0 0 0 0 5 5 5 200:1 - 5:0\n", "count must be from 1"},
        {SLINE "n 0 0 1 0\n", "names[0].bytes_in: missing"},
        {SLINE "n 0 0 1 0 0 0 0 5 5 5 200:1 - 5:1,\n", "must be index:count"},
        {SLINE "n 0 0 1 0 0 0 0 5 5 5 200:1 - 5:99999999999999999999999\n", "must be index:count"},
        {SLINE "n 0 0 1 0 0 0 0 5 5 5 200:1 - 5:1 x\n", "names[0]: the line must end here"},
        {SLINE "n 0 0 1 0 0 0 0 5 5 5 200:1 - 5:1", "names[0]: the line must end here"},
        {SLINE "n 0 0 1 0 0 0 0 5 5 5 200:1 -\n", "hist.b: missing"},
        {SLINE "n 0 0 1 0 0 0 0 5 5 5 200:1 - 5:-1\n", "must be index:count"},
        {SLINE "n 0 2 1 0 0 0 0 5 5 5 200:1 - 5:1\n", "names[0].group: 2 is more than 1"},
        {SLINE "n  0 0 1 0 0 0 0 5 5 5 200:1 - 5:1\n", "names[0].i: must be a whole number"},
        {SLINE OK1 OK1, "names[1].i: name 0 comes twice"},
        {SLINE OK1 "n 1 0 1 0 0 0 0 5 5 5 200:1 - 5:1\nn 2 0 1 0 0 0 0 5 5 5 200:1 - 5:1\n" OK1,
         "names: more than the run's 3"},
        {SLINE "m 1 status 500\n", "line 3 must start with 'n', or 'm' after a name"},
        {SLINE OK1 "\n", "line 4 must start with 'n'"},
        {SLINE "n 0 0 1 1 0 0 0 5 5 5 200:1 6:1 5:1\nm 0 x\n",
         "names[0].msgs[0].count: must be from 1"},
        {SLINE "n 0 0 1 1 0 0 0 5 5 5 200:1 6:1 5:1\nm 1 a\001b\n",
         "names[0].msgs[0]: holds a control character"},
        {SLINE "n 0 0 1 1 0 0 0 5 5 5 200:1 6:1 5:1\nm 1 x",
         "names[0].msgs[0]: the line must end here"},
        {SLINE "n 0 0 1 1 0 0 0 5 5 5 200:1 6:1 5:1\nm 1\n",
         "names[0].msgs[0]: must be 'm count message'"},
        /* A name of no requests whose other counts are refused: none of them may stay. */
        {SLINE "n 0 0 0 1 7 7 0 0 0 0 - 1:1 -\n", "failures: more than its requests"},
        {SLINE "n 0 0 0 0 7 7 0 0 0 0 404:5 - -\n", "status: counts add up to 5, not to its 0"},
        {long_msg, "names[0].msgs[0]: longer than 256 bytes"},
        {many_msgs, "names[0].msgs: more than 16"},
    };
    sp_stats out;
    sp_stats_init(&out, NNAMES);
    char err[256];
    /* The well-formed one they are made from is taken. */
    CHECK_INT_EQ(sp_wire_stats_decode(SLINE OK1, strlen(SLINE OK1), NNAMES, &out, err, sizeof err),
                 0);
    CHECK_UINT_EQ(out.names[0].requests, 1);
    for (size_t i = 0; i < SP_ARRAY_LEN(cases); i++) {
        int rc = sp_wire_stats_decode(cases[i].body, strlen(cases[i].body), NNAMES, &out, err,
                                      sizeof err);
        if (rc != SP_EINVAL || !strstr(err, cases[i].reason))
            fprintf(stderr, "    case %zu: rc %d, '%s'\n", i, rc, err);
        CHECK_INT_EQ(rc, SP_EINVAL);
        CHECK_STR_CONTAINS(err, cases[i].reason);
        /* A refused second leaves nothing behind. */
        for (size_t k = 0; k < NNAMES; k++) {
            const sp_name_stats *nk = &out.names[k];
            CHECK_UINT_EQ(nk->requests, 0);
            CHECK_UINT_EQ(nk->failures, 0);
            CHECK_UINT_EQ(nk->bytes_in + nk->bytes_out + nk->msgs_dropped, 0);
            CHECK_UINT_EQ(nk->status[200] + nk->status[404], 0);
            CHECK_UINT_EQ(nk->errors[1] + nk->errors[6], 0);
            CHECK_UINT_EQ(nk->nmsgs, 0);
            CHECK_UINT_EQ(sp_hist_count(nk->hist), 0);
        }
        CHECK_UINT_EQ(out.iterations, 0);
    }
    /* A receiver whose stats do not have the run's names. */
    CHECK_INT_EQ(sp_wire_stats_decode(SLINE, strlen(SLINE), NNAMES + 1, &out, err, sizeof err),
                 SP_EINVAL);
    CHECK_STR_CONTAINS(err, "holds 3 names, not 4");
    sp_stats_release(&out);
}

static void test_clock_offset(void)
{
    /* The agent's clock is 5 ms behind the server's; the path takes 1 ms each way. */
    sp_clock_sample s = sp_clock_sample_of(1000000000, 1006000000, 1006100000, 1002100000);
    CHECK_INT_EQ(s.offset_ns, 5000000);
    CHECK_INT_EQ(s.rtt_ns, 2000000);
    sp_clock c;
    sp_clock_init(&c);
    int64_t off, rtt;
    CHECK_INT_EQ(sp_clock_offset(&c, &off, &rtt), 0);
    /* A slow exchange (an asymmetric 30 ms on the way out) is a worse sample; the best wins. */
    sp_clock_add(&c, sp_clock_sample_of(0, 35000000, 35000000, 31000000));
    sp_clock_add(&c, s);
    sp_clock_add(&c, sp_clock_sample_of(0, 0, 10, 5)); /* t3 - t0 < t2 - t1: dropped */
    CHECK_INT_EQ(sp_clock_offset(&c, &off, &rtt), 1);
    CHECK_INT_EQ(off, 5000000);
    CHECK_INT_EQ(rtt, 2000000);
    /* Only the last SP_WIRE_CLOCK_SAMPLES count. */
    for (int i = 0; i < SP_WIRE_CLOCK_SAMPLES; i++)
        sp_clock_add(&c, sp_clock_sample_of(0, 8000000, 8000000, 4000000));
    CHECK_INT_EQ(sp_clock_offset(&c, &off, &rtt), 1);
    CHECK_INT_EQ(off, 6000000);
}

int main(void)
{
    RUN(test_hello_round_trip);
    RUN(test_control_round_trips);
    RUN(test_assign_round_trip);
    RUN(test_second_exact);
    RUN(test_malformed_messages);
    RUN(test_oversized_and_deep);
    RUN(test_other_protocol);
    RUN(test_malformed_stats);
    RUN(test_clock_offset);
    return check_summary();
}
