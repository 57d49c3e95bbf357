/*
 * test_wire.c - the agent protocol's messages (engine/wire.h): every type round-trips through
 * encode and decode, a second's stats come back identical (percentiles, mean and max to the
 * bit), every malformed form is refused with a reason naming the field, another protocol
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

static void test_second_exact(void)
{
    sp_stats s, back;
    sp_stats_init(&s, NNAMES);
    sp_stats_init(&back, NNAMES);
    fill(&s, 1);
    sp_wire_msg m, d;
    sp_wire_msg_init(&m, SP_WIRE_SECOND);
    m.run_id = 4;
    m.second = 12;
    CHECK_INT_EQ(round_trip(&m, &s, &d), 0);
    CHECK(d.second == 12 && d.run_id == 4 && d.stats);
    char err[256];
    int rc = sp_wire_stats_decode(d.stats, NNAMES, &back, err, sizeof err);
    if (rc)
        fprintf(stderr, "    %s\n", err);
    CHECK_INT_EQ(rc, 0);
    CHECK_UINT_EQ(back.iterations, 77);
    CHECK_UINT_EQ(back.active_vus, 5);
    CHECK_UINT_EQ(back.lag_us_max, 1234);
    for (size_t i = 0; i < NNAMES; i++) {
        const sp_name_stats *a = &s.names[i], *b = &back.names[i];
        CHECK_UINT_EQ(b->requests, a->requests);
        CHECK_UINT_EQ(b->failures, a->failures);
        CHECK_UINT_EQ(b->status[500], a->status[500]);
        CHECK_UINT_EQ(b->errors[SP_ERRK_HTTP_STATUS], a->errors[SP_ERRK_HTTP_STATUS]);
        CHECK_UINT_EQ(b->bytes_in, a->bytes_in);
        CHECK_UINT_EQ(b->nmsgs, a->nmsgs);
        CHECK_UINT_EQ(sp_hist_min(b->hist), sp_hist_min(a->hist));
        CHECK_UINT_EQ(sp_hist_max(b->hist), sp_hist_max(a->hist));
        CHECK(sp_hist_mean(b->hist) == sp_hist_mean(a->hist));
        for (double p = 1; p <= 100; p += 0.5)
            CHECK_UINT_EQ(sp_hist_percentile(b->hist, p), sp_hist_percentile(a->hist, p));
    }
    sp_wire_msg_release(&d);
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
        {"{\"v\":1}", "type"},
        {"{\"type\":\"nope\",\"v\":1}", "unknown message type"},
        {"{\"type\":\"bye\"}", "v: missing"},
        {"{\"type\":\"bye\",\"v\":\"1\"}", "v: must be an integer"},
        {"{\"type\":\"hello\",\"v\":1,\"version\":\"1\",\"name\":\"a\",\"location\":\"x y\","
         "\"cores\":1,\"threads\":1,\"max_vus\":1}",
         "location: may hold only"},
        {"{\"type\":\"hello\",\"v\":1,\"version\":\"1\",\"name\":\"\",\"location\":\"x\","
         "\"cores\":1,\"threads\":1,\"max_vus\":1}",
         "name: must not be empty"},
        {"{\"type\":\"hello\",\"v\":1,\"version\":\"1\",\"name\":"
         "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\"location\":\"x\","
         "\"cores\":1,\"threads\":1,\"max_vus\":1}",
         "name: longer than 64"},
        {"{\"type\":\"hello\",\"v\":1,\"version\":\"1\",\"name\":\"a\",\"location\":\"x\","
         "\"cores\":-1,\"threads\":1,\"max_vus\":1}",
         "cores: -1 is out of range"},
        {"{\"type\":\"hello\",\"v\":1,\"version\":\"1\",\"name\":\"a\",\"location\":\"x\","
         "\"cores\":1,\"threads\":1}",
         "max_vus: missing"},
        {"{\"type\":\"stop\",\"v\":1,\"run\":1}", "graceful: must be true or false"},
        {"{\"type\":\"time\",\"v\":1,\"t0\":5,\"t1\":9,\"t2\":8}", "t2: earlier than t1"},
        {"{\"type\":\"assign\",\"v\":1,\"run\":1,\"vu_offset\":0,\"fraction\":0.5,\"share_from\":0,"
         "\"share_to\":0.5,\"csv_index\":2,"
         "\"csv_count\":2,\"start_ns\":1,\"definition\":{}}",
         "csv_index: 2 is not below csv_count 2"},
        {"{\"type\":\"assign\",\"v\":1,\"run\":1,\"vu_offset\":0,\"fraction\":1.5,\"share_from\":0,"
         "\"share_to\":0.5,\"csv_index\":0,"
         "\"csv_count\":1,\"start_ns\":1,\"definition\":{}}",
         "fraction: 1.5 is out of range"},
        {"{\"type\":\"assign\",\"v\":1,\"run\":1,\"vu_offset\":0,\"fraction\":0.5,\"share_from\":0,"
         "\"share_to\":0.5,\"csv_index\":0,"
         "\"csv_count\":1,\"start_ns\":1,\"definition\":[]}",
         "definition: must be an object"},
        {"{\"type\":\"second\",\"v\":1,\"run\":1,\"second\":1}", "stats: must be an object"},
        {"{\"type\":\"second\",\"v\":1,\"run\":1,\"second\":99999999999,\"stats\":{}}",
         "past any run's end"},
        {"{\"type\":\"end\",\"v\":1,\"run\":1,\"last_second\":-2}", "last_second: -2 is out"},
        {"{\"type\":\"bye\",\"v\":1,\"reason\":\"a\\u0001\"}", "control character"},
        {"{\"type\":\"bye\",\"type\":\"bye\",\"v\":1}", "not JSON"},
    };
    for (size_t i = 0; i < SP_ARRAY_LEN(cases); i++) {
        sp_wire_msg m;
        char err[256];
        int rc = sp_wire_decode(cases[i].text, strlen(cases[i].text), &m, err, sizeof err);
        if (rc != SP_EINVAL || !strstr(err, cases[i].reason))
            fprintf(stderr, "    case %zu: rc %d, '%s'\n", i, rc, err);
        CHECK_INT_EQ(rc, SP_EINVAL);
        CHECK_STR_CONTAINS(err, cases[i].reason);
        CHECK(m.def == NULL && m.stats == NULL && m.allowlist == NULL);
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
    const char *t = "{\"type\":\"hello\",\"v\":2,\"version\":\"9.0\",\"name\":\"a1\"}";
    sp_wire_msg m;
    char err[256];
    CHECK_INT_EQ(sp_wire_decode(t, strlen(t), &m, err, sizeof err), SP_ESTATE);
    CHECK_UINT_EQ(m.v, 2);
    CHECK_INT_EQ(m.type, SP_WIRE_HELLO);
    CHECK_STR_EQ(m.version, "9.0");
    CHECK_STR_CONTAINS(err, "protocol 2, this side speaks 1");
}

/* Builds one name's stats JSON with the given fields replaced. */
static json_t *stats_with(const char *name_json)
{
    json_error_t je;
    json_t *n = json_loads(name_json, 0, &je);
    return json_pack("{s:i,s:i,s:i,s:i,s:i,s:i,s:f,s:i,s:i,s:[o]}", "iterations", 1, "dropped", 0,
                     "active_vus", 1, "target_vus", 1, "lag_us_max", 0, "arrivals", 0,
                     "target_rate", 0.0, "arrivals_late", 0, "arrivals_lag_us", 0, "names", n);
}

static void test_malformed_stats(void)
{
    static const struct {
        const char *name, *reason;
    } cases[] = {
        {"{\"i\":3,\"requests\":1,\"failures\":0,\"bytes_in\":0,\"bytes_out\":0,\"msgs_dropped\":0,"
         "\"status\":\"200:1\",\"errors\":\"\",\"msgs\":[],\"hist\":{\"min\":5,\"max\":5,\"sum\":5,"
         "\"b\":\"5:1\"}}",
         "not a name of this run"},
        {"{\"i\":0,\"requests\":1,\"failures\":0,\"bytes_in\":0,\"bytes_out\":0,\"msgs_dropped\":0,"
         "\"status\":\"200:1\",\"errors\":\"\",\"msgs\":[],\"hist\":{\"min\":5,\"max\":5,\"sum\":5,"
         "\"b\":\"999999:1\"}}",
         "outside [0, 3840)"},
        {"{\"i\":0,\"requests\":2,\"failures\":0,\"bytes_in\":0,\"bytes_out\":0,\"msgs_dropped\":0,"
         "\"status\":\"200:2\",\"errors\":\"\",\"msgs\":[],\"hist\":{\"min\":5,\"max\":5,\"sum\":"
         "10,"
         "\"b\":\"5:1\"}}",
         "hist: counts add up to 1, not to its 2 requests"},
        {"{\"i\":0,\"requests\":1,\"failures\":0,\"bytes_in\":0,\"bytes_out\":0,\"msgs_dropped\":0,"
         "\"status\":\"200:2\",\"errors\":\"\",\"msgs\":[],\"hist\":{\"min\":5,\"max\":5,\"sum\":5,"
         "\"b\":\"5:1\"}}",
         "status: counts add up to 2"},
        {"{\"i\":0,\"requests\":1,\"failures\":2,\"bytes_in\":0,\"bytes_out\":0,\"msgs_dropped\":0,"
         "\"status\":\"200:1\",\"errors\":\"\",\"msgs\":[],\"hist\":{\"min\":5,\"max\":5,\"sum\":5,"
         "\"b\":\"5:1\"}}",
         "failures: more than its requests"},
        {"{\"i\":0,\"requests\":1,\"failures\":0,\"bytes_in\":0,\"bytes_out\":0,\"msgs_dropped\":0,"
         "\"status\":\"200:1\",\"errors\":\"\",\"msgs\":[],\"hist\":{\"min\":7,\"max\":5,\"sum\":5,"
         "\"b\":\"5:1\"}}",
         "do not fit its buckets"},
        {"{\"i\":0,\"requests\":2,\"failures\":0,\"bytes_in\":0,\"bytes_out\":0,\"msgs_dropped\":0,"
         "\"status\":\"200:2\",\"errors\":\"\",\"msgs\":[],\"hist\":{\"min\":5,\"max\":5,\"sum\":"
         "10,"
         "\"b\":\"5:1,5:1\"}}",
         "indexes must increase"},
        {"{\"i\":0,\"requests\":1,\"failures\":0,\"bytes_in\":0,\"bytes_out\":0,\"msgs_dropped\":0,"
         "\"status\":\"200:1\",\"errors\":\"\",\"msgs\":[],\"hist\":{\"min\":5,\"max\":5,\"sum\":5,"
         "\"b\":\"5:0\"}}",
         "count must be from 1"},
        {"{\"i\":0,\"requests\":1,\"failures\":0,\"bytes_in\":0,\"bytes_out\":0,\"msgs_dropped\":0,"
         "\"status\":\"200:1\",\"errors\":\"\",\"msgs\":[1],\"hist\":{\"min\":5,\"max\":5,\"sum\":"
         "5,"
         "\"b\":\"5:1\"}}",
         "must be [message, count]"},
        {"{\"i\":0,\"requests\":1,\"failures\":0,\"bytes_in\":0,\"bytes_out\":0,\"msgs_dropped\":0,"
         "\"status\":\"200:1\",\"errors\":\"\",\"msgs\":[],\"hist\":{\"min\":5,\"max\":5,\"sum\":"
         "500,"
         "\"b\":\"5:1\"}}",
         "do not fit its buckets"},
        {"{\"i\":0,\"requests\":1,\"failures\":0,\"bytes_out\":0,\"msgs_dropped\":0,"
         "\"status\":\"200:1\",\"errors\":\"\",\"msgs\":[],\"hist\":{\"min\":5,\"max\":5,\"sum\":5,"
         "\"b\":\"5:1\"}}",
         "names[0].bytes_in: missing"},
        {"{\"i\":0,\"requests\":1,\"failures\":0,\"bytes_in\":0,\"bytes_out\":0,\"msgs_dropped\":0,"
         "\"status\":\"200:1\",\"errors\":\"\",\"msgs\":[],\"hist\":{\"min\":5,\"max\":5,\"sum\":5,"
         "\"b\":\"5:1,\"}}",
         "must be index:count"},
        {"{\"i\":0,\"requests\":1,\"failures\":0,\"bytes_in\":0,\"bytes_out\":0,\"msgs_dropped\":0,"
         "\"status\":[[200,1]],\"errors\":\"\",\"msgs\":[],\"hist\":{\"min\":5,\"max\":5,\"sum\":5,"
         "\"b\":\"5:1\"}}",
         "status: must be a string"},
        {"{\"i\":0,\"requests\":1,\"failures\":0,\"bytes_in\":0,\"bytes_out\":0,\"msgs_dropped\":0,"
         "\"status\":\"200:1\",\"errors\":\"\",\"msgs\":[],\"hist\":{\"min\":5,\"max\":5,\"sum\":5,"
         "\"b\":\"5:99999999999999999999999\"}}",
         "must be index:count"},
    };
    sp_stats out;
    sp_stats_init(&out, NNAMES);
    for (size_t i = 0; i < SP_ARRAY_LEN(cases); i++) {
        json_t *j = stats_with(cases[i].name);
        char err[256];
        int rc = sp_wire_stats_decode(j, NNAMES, &out, err, sizeof err);
        if (rc != SP_EINVAL || !strstr(err, cases[i].reason))
            fprintf(stderr, "    case %zu: rc %d, '%s'\n", i, rc, err);
        CHECK_INT_EQ(rc, SP_EINVAL);
        CHECK_STR_CONTAINS(err, cases[i].reason);
        /* A refused second leaves nothing behind. */
        CHECK_UINT_EQ(out.names[0].requests, 0);
        CHECK_UINT_EQ(sp_hist_count(out.names[0].hist), 0);
        json_decref(j);
    }
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
