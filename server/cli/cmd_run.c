/*
 * run.c - `stampede run FILE`: runs a test definition from the command line, for people at a
 * terminal and for CI pipelines.
 *
 * Exit codes: 0 every threshold passed, 1 a threshold failed (or, in a test without thresholds,
 * a request failed and --allow-failures was not given), 2 the definition is invalid or the run
 * could not start, 130 stopped by Ctrl-C (the summary is still printed).
 *
 * Signals: SIGINT and SIGTERM are blocked in every thread and taken by one signal thread with
 * sigwait(), so the engine is stopped from ordinary code, never from a signal handler. The
 * first Ctrl-C stops gracefully; the second stops at once.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "engine/common.h"
#include "engine/definition.h"
#include "engine/engine.h"
#include "engine/histogram.h"
#include "cli/cli.h"
#include "runs/report.h"

typedef struct run_ctx {
    const sp_def *def;
    sp_engine *engine;
    FILE *live;      /* where live lines go (stderr), NULL when quiet */
    int tty;         /* live lines overwrite each other */
    json_t *seconds; /* per-second rows, kept for --json */
    sp_name_stats scratch;
    pthread_mutex_t lock;
    int live_open;           /* a tty live line is on screen without a newline */
    int interrupted;         /* Ctrl-C count */
    atomic_int done;         /* the run is over: the key thread ends */
    sp_load_change *changes; /* '+'/'-' while it ran, under lock */
    size_t nchanges, capchanges;
} run_ctx;

/*
 * Live load changes: on a terminal, '+' and '-' add or remove 10% of the load. The terminal is
 * put in non-canonical mode without echo so single keys arrive at once; ISIG stays on, so
 * Ctrl-C still reaches the signal thread. The saved mode is restored when the run ends, from
 * an atexit handler as well (an exit on any path), and the stop signals never kill the process
 * (they are taken by sigwait), so the restore always runs.
 */
static struct termios saved_tio;
static int tio_saved;

static void tty_restore(void)
{
    if (tio_saved) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tio);
        tio_saved = 0;
    }
}

static int tty_raw(void)
{
    struct termios t;
    if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved_tio) != 0)
        return -1;
    t = saved_tio;
    t.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &t) != 0)
        return -1;
    tio_saved = 1;
    static int registered;
    if (!registered++)
        atexit(tty_restore);
    return 0;
}

/* 10% more or less of the current target, at least one VU (closed model). */
static double next_target(const sp_def *def, double cur, int up)
{
    if (def->load.model == SP_LOAD_OPEN) {
        double v = up ? (cur > 0 ? cur * 1.1 : 1) : cur * 0.9;
        return v;
    }
    double c = (double)lround(cur);
    double v = (double)lround(up ? cur * 1.1 : cur * 0.9);
    if (up && v < c + 1)
        v = c + 1;
    if (!up && v > c - 1)
        v = c - 1;
    return v < 0 ? 0 : v;
}

static void *key_thread(void *arg)
{
    run_ctx *c = arg;
    while (!atomic_load(&c->done)) {
        struct pollfd p = {STDIN_FILENO, POLLIN, 0};
        int n = poll(&p, 1, 200);
        if (n <= 0 || !(p.revents & POLLIN))
            continue;
        char ch;
        if (read(STDIN_FILENO, &ch, 1) != 1)
            break; /* end of input: no more keys */
        if (ch != '+' && ch != '-' && ch != '=')
            continue;
        int up = ch != '-'; /* '=' is '+' without shift */
        double cur = sp_engine_target(c->engine);
        double nv = next_target(c->def, cur, up);
        int rc = sp_engine_set_target(c->engine, nv, 0);
        pthread_mutex_lock(&c->lock);
        if (c->live_open) {
            fputc('\n', stderr);
            c->live_open = 0;
        }
        if (rc == 0 && c->def->load.model == SP_LOAD_OPEN)
            fprintf(stderr, "rate %.1f -> %.1f iterations/s\n", cur, nv);
        else if (rc == 0)
            fprintf(stderr, "users %.0f -> %.0f\n", cur, nv);
        if (rc == 0) {
            /* Kept for the summary and the JSON result, which list the load changes. */
            sp_grow((void **)&c->changes, &c->capchanges, c->nchanges + 1, sizeof *c->changes);
            c->changes[c->nchanges++] =
                (sp_load_change){.at_ms = sp_wall_ms(),
                                 .elapsed_ms = (int64_t)sp_engine_elapsed_ms(c->engine),
                                 .target = nv};
        }
        pthread_mutex_unlock(&c->lock);
    }
    return NULL;
}

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: stampede run FILE [options]\n"
        "\n"
        "Runs the test definition FILE (JSON, see docs/test-format.md) and prints a summary.\n"
        "\n"
        "options:\n"
        "  -u, --users N         hold N virtual users (with --duration) instead of the stages\n"
        "  -d, --duration D      total duration, e.g. 30s, 2m, 1h30m\n"
        "      --stages JSON     replace the load stages, e.g. "
        "'[{\"duration\":\"10s\",\"users\":5}]'\n"
        "  -b, --base-url URL    replace the definition's base_url\n"
        "  -t, --threads N       worker threads (default: one per core)\n"
        "      --seed N          random seed, for repeatable choices\n"
        "      --json OUT        write full results as JSON (per name, status, second, threshold)\n"
        "      --junit OUT       write JUnit XML, one test case per threshold\n"
        "      --baseline FILE   the --json result of an earlier run: thresholds relative to\n"
        "                        a baseline ('p95 < baseline * 1.10') are judged against it\n"
        "  -q, --quiet           no live lines, only the summary\n"
        "      --allow-failures  a run without thresholds passes even when requests failed\n"
        "                        (without it such a run fails: exit code 1)\n"
        "      --check           validate the definition and exit (0 valid, 2 invalid)\n"
        "  -h, --help            this help\n"
        "\n"
        "On a terminal, '+' and '-' add or remove 10%% of the load (users, or the arrival rate\n"
        "of the open model) while the run goes on.\n"
        "\n"
        "exit codes: 0 passed, 1 a threshold failed (or, with no thresholds, a request\n"
        "failed and --allow-failures was not given), 2 invalid definition or could not\n"
        "start, 130 interrupted (Ctrl-C stops gracefully, a second Ctrl-C at once)\n");
}

static void on_second(void *ud, uint64_t second, const sp_stats *s)
{
    run_ctx *c = ud;
    json_t *row = sp_report_second(c->def, second, s, &c->scratch);
    pthread_mutex_lock(&c->lock);
    if (c->seconds)
        json_array_append(c->seconds, row); /* the array takes its own reference */
    /* The last, partial second after every VU has stopped carries nothing worth a line. */
    if (c->live && (s->active_vus || json_integer_value(json_object_get(row, "requests")))) {
        json_int_t req = json_integer_value(json_object_get(row, "requests"));
        json_int_t fail = json_integer_value(json_object_get(row, "failures"));
        double p95 = json_real_value(json_object_get(row, "p95"));
        char p95s[16];
        sp_fmt_us((uint64_t)(p95 * 1000.0), p95s, sizeof p95s);
        if (c->def->load.model == SP_LOAD_OPEN) {
            fprintf(c->live,
                    "%s[%5" PRIu64 "s] rate %7.1f/%-7.1f dropped %5" PRIu64
                    "  busy %5u/%-5u  p95 %9s  errors %" JSON_INTEGER_FORMAT " (%.2f%%)%s",
                    c->tty ? "\r\033[K" : "", second + 1, (double)s->arrivals, s->target_rate,
                    s->dropped, s->active_vus, s->target_vus, p95s, fail,
                    req ? 100.0 * (double)fail / (double)req : 0.0, c->tty ? "" : "\n");
        } else {
            fprintf(c->live,
                    "%s[%5" PRIu64 "s] vus %5u/%-5u  rps %8" JSON_INTEGER_FORMAT
                    "  p95 %9s  errors %" JSON_INTEGER_FORMAT " (%.2f%%)%s",
                    c->tty ? "\r\033[K" : "", second + 1, s->active_vus, s->target_vus, req, p95s,
                    fail, req ? 100.0 * (double)fail / (double)req : 0.0, c->tty ? "" : "\n");
        }
        c->live_open = c->tty;
        if (s->stalled_seconds) {
            /* Kept on the screen: the second's figures are the generator's, not the target's. */
            fprintf(c->live, "%s  ^ generator stall: the engine, not the target, was late\n",
                    c->tty ? "\n" : "");
            c->live_open = 0;
        }
        fflush(c->live);
    }
    pthread_mutex_unlock(&c->lock);
    json_decref(row);
}

static void *signal_thread(void *arg)
{
    run_ctx *c = arg;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGUSR1);
    for (;;) {
        int sig;
        if (sigwait(&set, &sig) != 0)
            continue;
        if (sig == SIGUSR1) /* the run is over: main asks this thread to end */
            break;
        pthread_mutex_lock(&c->lock);
        int n = ++c->interrupted;
        if (c->live_open) {
            fputc('\n', stderr);
            c->live_open = 0;
        }
        fprintf(stderr,
                n == 1 ? "stopping gracefully (Ctrl-C again to stop at once)\n" : "stopping now\n");
        pthread_mutex_unlock(&c->lock);
        sp_engine_stop(c->engine, n == 1);
    }
    return NULL;
}

static int parse_count(const char *s, const char *opt, int64_t max, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v <= 0 || v > max) {
        fprintf(stderr, "stampede run: %s expects a whole number from 1 to %lld, not '%s'\n", opt,
                (long long)max, s);
        return -1;
    }
    *out = v;
    return 0;
}

/* Opens path for writing, or says why not. */
static FILE *open_out(const char *path, const char *what)
{
    FILE *f = fopen(path, "w");
    if (!f)
        fprintf(stderr, "stampede run: cannot write %s to %s: %s\n", what, path, strerror(errno));
    return f;
}

/* Closes f; a failed write or close is reported and returns -1. */
static int close_out(FILE *f, int rc, const char *path, const char *what)
{
    if (fclose(f) != 0 || rc != 0) {
        fprintf(stderr, "stampede run: writing %s to %s failed\n", what, path);
        return -1;
    }
    return 0;
}

static int write_outputs(const sp_run_result *r, json_t *seconds, const char *json_out,
                         const char *junit_out)
{
    int bad = 0;
    FILE *f;
    if (json_out && (f = open_out(json_out, "JSON results"))) {
        json_t *doc = sp_report_json(r, seconds);
        int rc = json_dumpf(doc, f, JSON_INDENT(1) | JSON_REAL_PRECISION(6));
        fputc('\n', f);
        json_decref(doc);
        bad |= close_out(f, rc, json_out, "JSON results");
    } else if (json_out) {
        bad = -1;
    }
    if (junit_out && (f = open_out(junit_out, "JUnit XML"))) {
        int rc = sp_report_junit(r, f);
        bad |= close_out(f, rc, junit_out, "JUnit XML");
    } else if (junit_out) {
        bad = -1;
    }
    return bad;
}

/* What the command line asked for. */
typedef struct run_args {
    sp_overrides ov;
    int64_t threads, seed;
    const char *json_out, *junit_out;
    const char *baseline; /* --baseline FILE: an earlier run's --json result */
    int quiet, check_only, allow_failures;
    const char *file;
} run_args;

/* The command line into a. Returns -1 to go on, else the exit code (0 for --help, 2 for a bad
 * command line, with the reason printed). */
static int parse_args(int argc, char **argv, run_args *a)
{
    static const struct option opts[] = {
        {"users", required_argument, NULL, 'u'},    {"duration", required_argument, NULL, 'd'},
        {"stages", required_argument, NULL, 'S'},   {"base-url", required_argument, NULL, 'b'},
        {"threads", required_argument, NULL, 't'},  {"seed", required_argument, NULL, 's'},
        {"json", required_argument, NULL, 'J'},     {"junit", required_argument, NULL, 'X'},
        {"quiet", no_argument, NULL, 'q'},          {"check", no_argument, NULL, 'c'},
        {"allow-failures", no_argument, NULL, 'F'}, {"baseline", required_argument, NULL, 'B'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "u:d:b:t:qh", opts, NULL)) != -1) {
        switch (ch) {
        case 'u':
            if (parse_count(optarg, "--users", SP_DEF_MAX_VUS, &a->ov.users))
                return 2;
            break;
        case 'd': {
            int64_t msv = 0;
            if (sp_parse_duration_ms(optarg, &msv) != 0 || msv <= 0) {
                fprintf(stderr,
                        "stampede run: --duration expects a duration above zero such as "
                        "30s, 2m or 1h30m, not '%s'\n",
                        optarg);
                return 2;
            }
            a->ov.duration_ms = msv;
            break;
        }
        case 'S':
            a->ov.stages = optarg;
            break;
        case 'b':
            a->ov.base_url = optarg;
            break;
        case 't':
            if (parse_count(optarg, "--threads", 256, &a->threads))
                return 2;
            break;
        case 's':
            if (parse_count(optarg, "--seed", INT64_MAX, &a->seed))
                return 2;
            break;
        case 'J':
            a->json_out = optarg;
            break;
        case 'X':
            a->junit_out = optarg;
            break;
        case 'q':
            a->quiet = 1;
            break;
        case 'c':
            a->check_only = 1;
            break;
        case 'F':
            a->allow_failures = 1;
            break;
        case 'B':
            a->baseline = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, optind >= argc ? "stampede run: which test? Give a definition file.\n"
                                       : "stampede run: one definition file at a time\n");
        usage(stderr);
        return 2;
    }
    if (a->ov.users > 0 && a->ov.duration_ms <= 0) {
        fprintf(stderr, "stampede run: --users needs --duration (how long to hold them)\n");
        return 2;
    }
    a->file = argv[optind];
    return -1;
}

/* Runs c->engine to its end with the signal thread (Ctrl-C: graceful, then immediate) and, on
 * a terminal, the key thread ('+'/'-' change the load). Returns sp_engine_start's result. */
static int run_to_end(run_ctx *c, int quiet)
{
    /* Block the stop signals before any engine thread exists, so every thread inherits the mask
     * and only the signal thread receives them. */
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    pthread_t sigthr;
    pthread_create(&sigthr, NULL, signal_thread, c);

    const sp_def *def = c->def;
    int keys = c->tty && tty_raw() == 0;
    if (!quiet)
        fprintf(stderr, "running %s: %zu user class%s, %.0fs planned%s\n", def->name, def->nusers,
                def->nusers == 1 ? "" : "es", (double)def->load.total_ms / 1000.0,
                keys ? " ('+'/'-': 10% more/less load)" : "");
    int rc = sp_engine_start(c->engine);
    pthread_t keythr;
    if (rc == 0 && keys && pthread_create(&keythr, NULL, key_thread, c) != 0)
        keys = 0;
    if (rc == 0)
        sp_engine_wait(c->engine);
    atomic_store(&c->done, 1);
    if (rc == 0 && keys)
        pthread_join(keythr, NULL);
    tty_restore();
    pthread_kill(sigthr, SIGUSR1);
    pthread_join(sigthr, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

int sp_cmd_run(int argc, char **argv)
{
    run_args a = {.ov = SP_OVERRIDES_NONE};
    int exit_code = 2;
    sp_def *def = NULL;
    sp_engine *engine = NULL;
    sp_verdict *verdicts = NULL;
    json_t *base = NULL; /* --baseline's result */
    sp_errlist errs;
    sp_errlist_init(&errs);
    run_ctx c;
    memset(&c, 0, sizeof c);
    pthread_mutex_init(&c.lock, NULL);
    sp_name_stats_init(&c.scratch);

    int parsed = parse_args(argc, argv, &a);
    if (parsed >= 0) {
        exit_code = parsed;
        goto out;
    }
    if (sp_def_load_file(a.file, &a.ov, &def, &errs) != 0) {
        sp_buf b;
        sp_buf_init(&b, 1u << 20);
        sp_errlist_format(&errs, &b);
        fprintf(stderr, "%s: invalid test definition:\n%s", a.file, b.p);
        sp_buf_release(&b);
        goto out;
    }
    if (a.baseline) {
        /* Read before the run, so that a wrong file costs nothing. */
        json_error_t je;
        base = json_load_file(a.baseline, JSON_REJECT_DUPLICATES, &je);
        if (!json_is_object(base) || !json_is_object(json_object_get(base, "total"))) {
            fprintf(stderr,
                    "stampede run: --baseline %s: %s (expected the --json result of a run)\n",
                    a.baseline, base ? "no \"total\" in it" : je.text);
            goto out;
        }
    }
    if (a.check_only) {
        size_t groups = 0;
        for (size_t i = 0; i < def->nnames; i++)
            groups += def->name_kinds[i] == SP_NAME_GROUP;
        if (groups)
            printf("%s: valid (%zu user classes, %zu request names, %zu groups, %zu thresholds)\n",
                   a.file, def->nusers, def->nnames - groups, groups, def->nthresholds);
        else
            printf("%s: valid (%zu user classes, %zu request names, %zu thresholds)\n", a.file,
                   def->nusers, def->nnames, def->nthresholds);
        exit_code = 0;
        goto out;
    }

    c.def = def;
    c.live = a.quiet ? NULL : stderr;
    c.tty = !a.quiet && isatty(STDERR_FILENO);
    c.seconds = a.json_out ? json_array() : NULL;

    sp_engine_opts eo = {
        .threads = (unsigned)a.threads, .seed = (uint64_t)a.seed, .on_second = on_second, .ud = &c};
    char err[256] = "";
    if (sp_engine_new(def, &eo, &engine, err, sizeof err) != 0) {
        fprintf(stderr, "stampede run: cannot start: %s\n", err);
        goto out;
    }
    c.engine = engine;

    int64_t started_ms = sp_wall_ms();
    int rc = run_to_end(&c, a.quiet);
    if (rc != 0) {
        fprintf(stderr, "stampede run: cannot start: %s\n", sp_strerror(rc));
        goto out;
    }
    if (c.live_open)
        fputc('\n', stderr);

    double duration_s = (double)sp_engine_elapsed_ms(engine) / 1000.0;
    const sp_stats *totals = sp_engine_totals(engine);
    verdicts = sp_calloc(def->nthresholds + 1, sizeof *verdicts);
    size_t failed = sp_report_judge_against(def, totals, duration_s, base, verdicts);
    sp_break brk;
    int broke = sp_engine_broke(engine, &brk);
    char host[256] = "";
    if (gethostname(host, sizeof host) != 0)
        host[0] = '\0';
    host[sizeof host - 1] = '\0';
    sp_run_result r = {.def = def,
                       .totals = totals,
                       .duration_s = duration_s,
                       .verdicts = verdicts,
                       .status = "passed",
                       .started_ms = started_ms,
                       .brk = broke ? &brk : NULL,
                       .changes = c.changes,
                       .nchanges = c.nchanges,
                       .host = host[0] ? host : NULL,
                       .allow_failures = a.allow_failures};
    /* Without thresholds, a failed request fails the run unless --allow-failures. */
    if (!failed && sp_report_unaccepted_failures(&r))
        failed = 1;
    r.status = c.interrupted ? "stopped" : failed ? "failed" : "passed";
    sp_report_text(&r, stdout);
    fflush(stdout);

    exit_code = c.interrupted ? 130 : failed ? 1 : 0;
    if (write_outputs(&r, c.seconds, a.json_out, a.junit_out) != 0)
        exit_code = 2;

out:
    free(verdicts);
    json_decref(base);
    sp_engine_free(engine);
    sp_def_free(def);
    sp_errlist_release(&errs);
    json_decref(c.seconds);
    free(c.changes);
    sp_name_stats_release(&c.scratch);
    pthread_mutex_destroy(&c.lock);
    return exit_code;
}
