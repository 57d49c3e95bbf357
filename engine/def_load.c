/*
 * def_load.c - the definition walk's load profile and run verdicts (def_walk.h): the load
 * (closed or open model, stages or the shorthand), its stop_when conditions, and thresholds.
 */
#include "engine/def_walk.h"

#include <string.h>

/* ---- load profile ---- */

/* A stage's target: VUs (a whole number) for the closed model, a rate for the open one. */
static int stage_target(sp_dw *c, const json_t *st, int open, double *out)
{
    const char *key = open ? "rate" : "users";
    const json_t *v = json_object_get(st, key);
    if (!v) {
        sp_dw_err_missing(c, key);
        return -1;
    }
    if (!open) {
        int64_t u;
        if (sp_dw_get_int(c, st, "users", 0, SP_DEF_MAX_VUS, &u) != 1)
            return -1;
        *out = (double)u;
        return 0;
    }
    size_t m = sp_dw_path_key(c, "rate");
    int rc = -1;
    if (!json_is_number(v))
        sp_dw_err_type(c, "a number (iterations per second)", v);
    else if (json_number_value(v) < 0)
        sp_dw_err(c, "cannot be negative");
    else if (json_number_value(v) > RATE_MAX)
        sp_dw_err(c, "at most %.0f per second", RATE_MAX);
    else {
        *out = json_number_value(v);
        rc = 0;
    }
    sp_dw_path_pop(c, m);
    return rc;
}

/* The stages of a load of the given model into L; 1 when every stage is valid. */
static int compile_stages(sp_dw *c, const json_t *stages, int open, sp_load *L)
{
    static const char *const sfields[] = {"duration", "users", "rate"};
    const char *tkey = open ? "rate" : "users";
    const char *other = open ? "users" : "rate";
    int ok = 1;
    size_t n = json_is_array(stages) ? json_array_size(stages) : 0;
    if (!json_is_array(stages)) {
        sp_dw_err_type(c, "an array of stages", stages);
        ok = 0;
    } else if (n == 0) {
        sp_dw_err(c, "the load has no stages");
        ok = 0;
    } else if (n > SP_DEF_MAX_STAGES) {
        sp_dw_err(c, "more than %d stages", SP_DEF_MAX_STAGES);
        ok = 0;
    } else {
        L->stages = sp_calloc(n, sizeof(L->stages[0]));
        for (size_t i = 0; i < n; i++) {
            const json_t *st = json_array_get(stages, i); /* borrowed */
            size_t mi = sp_dw_path_index(c, i);
            if (!json_is_object(st)) {
                sp_dw_err_type(c, "an object ({\"duration\": ..., \"users\": ...})", st);
                ok = 0;
                sp_dw_path_pop(c, mi);
                continue;
            }
            sp_dw_check_fields(c, st, sfields, SP_ARRAY_LEN(sfields));
            if (json_object_get(st, other)) {
                sp_dw_err_key(c, other, "%s-model stages set '%s', not '%s'",
                              open ? "open" : "closed", tkey, other);
                ok = 0;
            }
            const json_t *d = json_object_get(st, "duration");
            int64_t ms = 0;
            if (!d) {
                sp_dw_err_missing(c, "duration");
                ok = 0;
            } else {
                size_t md = sp_dw_path_key(c, "duration");
                if (sp_dw_duration(c, d, &ms))
                    ok = 0;
                sp_dw_path_pop(c, md);
            }
            double target = 0;
            if (stage_target(c, st, open, &target))
                ok = 0;
            L->stages[L->nstages].duration_ms = (uint32_t)ms;
            L->stages[L->nstages].target = target;
            L->nstages++;
            L->total_ms += (uint64_t)ms;
            sp_dw_path_pop(c, mi);
        }
    }
    return ok;
}

/* load.locations ({"near": 60, "far": 40}) and load.on_agent_loss ("continue" | "abort"). */
static void load_locations(sp_dw *c, const json_t *v, sp_load *L)
{
    const char *loss = sp_dw_get_str(c, v, "on_agent_loss", 0);
    if (loss && strcmp(loss, "abort") == 0)
        L->abort_on_agent_loss = 1;
    else if (loss && strcmp(loss, "continue") != 0)
        sp_dw_err_key(c, "on_agent_loss", "expected \"continue\" or \"abort\", got '%.64s'", loss);
    const json_t *locs = json_object_get(v, "locations");
    if (!locs)
        return;
    size_t m = sp_dw_path_key(c, "locations");
    if (!json_is_object(locs) || json_object_size(locs) == 0 ||
        json_object_size(locs) > SP_WIRE_MAX_LOCATIONS) {
        sp_dw_err(c,
                  "an object of 1 to %d locations and integer percents, such as "
                  "{\"near\": 60, \"far\": 40}",
                  SP_WIRE_MAX_LOCATIONS);
        sp_dw_path_pop(c, m);
        return;
    }
    const char *key;
    const json_t *pct;
    int64_t sum = 0, ok = 1;
    json_object_foreach((json_t *)locs, key, pct)
    {
        size_t n = strlen(key), good = n > 0 && n <= SP_WIRE_MAX_NAME;
        for (size_t i = 0; good && i < n; i++)
            good = (key[i] >= 'a' && key[i] <= 'z') || (key[i] >= 'A' && key[i] <= 'Z') ||
                   (key[i] >= '0' && key[i] <= '9') || key[i] == '.' || key[i] == '_' ||
                   key[i] == '-';
        if (!good) {
            sp_dw_err_key(c, key, "a location is 1 to %d letters, digits, '.', '_' or '-'",
                          SP_WIRE_MAX_NAME);
            ok = 0;
        } else if (!json_is_integer(pct) || json_integer_value(pct) < 1 ||
                   json_integer_value(pct) > 100) {
            sp_dw_err_key(c, key, "a whole percent from 1 to 100");
            ok = 0;
        } else {
            sum += json_integer_value(pct);
        }
    }
    if (ok && sum != 100)
        sp_dw_err(c, "the percents add up to %lld, not 100", (long long)sum);
    else if (ok)
        L->locations = locs;
    sp_dw_path_pop(c, m);
}

void sp_dw_load(sp_dw *c, const json_t *v, sp_load *L)
{
    static const char *const fields[] = {"model",     "stages",    "max_vus",
                                         "users",     "rate",      "duration",
                                         "stop_when", "locations", "on_agent_loss"};
    if (!json_is_object(v)) {
        sp_dw_err_type(c, "an object", v);
        return;
    }
    sp_dw_check_fields(c, v, fields, SP_ARRAY_LEN(fields));
    load_locations(c, v, L);
    const char *model = sp_dw_get_str(c, v, "model", 0);
    int open = 0;
    if (model && strcmp(model, "open") == 0) {
        open = 1;
    } else if (model && strcmp(model, "closed") != 0) {
        sp_dw_err_key(c, "model",
                      "expected \"closed\" (a number of users) or \"open\" (a rate of "
                      "arrivals), got '%.64s'",
                      model);
        return;
    }
    L->model = open ? SP_LOAD_OPEN : SP_LOAD_CLOSED;
    const char *tkey = open ? "rate" : "users";
    const char *other = open ? "users" : "rate";
    if (json_object_get(v, other))
        sp_dw_err_key(c, other, "'%s' belongs to the %s model; the %s model uses '%s'", other,
                      open ? "closed" : "open", open ? "open" : "closed", tkey);

    int ok = 1;
    const json_t *stages = json_object_get(v, "stages");
    if (stages) {
        if (json_object_get(v, tkey) || json_object_get(v, "duration")) {
            sp_dw_err(c, "give either 'stages' or '%s' with 'duration', not both", tkey);
            return;
        }
        size_t m = sp_dw_path_key(c, "stages");
        ok = compile_stages(c, stages, open, L);
        sp_dw_path_pop(c, m);
    } else {
        /* Shorthand: jump to the target at once, then hold it for the duration. */
        double target = 0;
        int64_t ms = 0;
        const json_t *d = json_object_get(v, "duration");
        if (!json_object_get(v, tkey) && !d) {
            sp_dw_err(c, "give 'stages', or '%s' and 'duration'", tkey);
            return;
        }
        if (stage_target(c, v, open, &target))
            ok = 0;
        if (!d) {
            sp_dw_err_missing(c, "duration");
            ok = 0;
        } else {
            size_t md = sp_dw_path_key(c, "duration");
            if (sp_dw_duration(c, d, &ms))
                ok = 0;
            sp_dw_path_pop(c, md);
        }
        L->stages = sp_calloc(2, sizeof(L->stages[0]));
        L->stages[0].duration_ms = 0;
        L->stages[0].target = target;
        L->stages[1].duration_ms = (uint32_t)ms;
        L->stages[1].target = target;
        L->nstages = 2;
        L->total_ms = (uint64_t)ms;
    }

    if (ok) {
        double peak = 0;
        for (size_t i = 0; i < L->nstages; i++)
            if (L->stages[i].target > peak)
                peak = L->stages[i].target;
        if (L->total_ms == 0)
            sp_dw_err(c, "the load's total duration is 0: give at least one stage a duration");
        else if (L->total_ms > (uint64_t)SP_DEF_MAX_DURATION_S * 1000)
            sp_dw_err(c, "the load lasts longer than %d days in total",
                      SP_DEF_MAX_DURATION_S / 86400);
        if (peak <= 0)
            sp_dw_err(c, open ? "every stage has a rate of 0: nothing would run"
                              : "every stage has 0 users: nothing would run");
    }

    int64_t mv = 0;
    int got = sp_dw_get_int(c, v, "max_vus", 1, SP_DEF_MAX_VUS, &mv);
    if (open) {
        if (got == 0)
            sp_dw_err(c, "the open model needs 'max_vus' (the most VUs it may start, 1 to %d)",
                      SP_DEF_MAX_VUS);
        else if (got == 1)
            L->max_vus = (uint32_t)mv;
    } else if (got != 0) {
        sp_dw_err_key(c, "max_vus",
                      "'max_vus' belongs to the open model; the closed model's stages "
                      "set the number of users");
    }
}

/* A parsed condition on a metric only the open model measures, in a closed model: reported at
 * the current path (1). */
static int closed_open_metric(sp_dw *c, const sp_threshold *th)
{
    if (c->def->load.model == SP_LOAD_OPEN || !sp_th_metric_open_only(th->metric))
        return 0;
    sp_dw_err(c, "%s is measured in the open model only (load.model \"open\")",
              sp_th_metric_name(th->metric));
    return 1;
}

/*
 * load.stop_when: {"any": ["error_rate > 5%", "p95 > 2s"], "window": "10s"}. The conditions use
 * the threshold grammar, but say when to stop (the run breaks when one holds), judged over the
 * last `window` seconds (default 10 s, 1 s to 1 h).
 */
void sp_dw_stop_when(sp_dw *c, const json_t *v)
{
    static const char *const fields[] = {"any", "window"};
    sp_load *l = &c->def->load;
    if (!json_is_object(v)) {
        sp_dw_err_type(c, "an object such as {\"any\": [\"error_rate > 5%\"], \"window\": \"10s\"}",
                       v);
        return;
    }
    sp_dw_check_fields(c, v, fields, SP_ARRAY_LEN(fields));
    l->stop_window_s = 10;
    const json_t *w = json_object_get(v, "window");
    if (w) {
        size_t m = sp_dw_path_key(c, "window");
        int64_t ms = 0;
        if (!json_is_string(w) || sp_parse_duration_ms(json_string_value(w), &ms) != 0 ||
            ms < 1000 || ms > 3600 * 1000 || ms % 1000)
            sp_dw_err(c, "a whole number of seconds from 1s to 1h, such as \"10s\"");
        else
            l->stop_window_s = (uint32_t)(ms / 1000);
        sp_dw_path_pop(c, m);
    }
    const json_t *any = json_object_get(v, "any");
    if (!any) {
        sp_dw_err_missing(c, "any");
        return;
    }
    size_t m = sp_dw_path_key(c, "any");
    if (!json_is_array(any) || json_array_size(any) == 0 ||
        json_array_size(any) > SP_DEF_MAX_THRESHOLDS) {
        sp_dw_err(c, "an array of 1 to %d conditions such as \"error_rate > 5%%\"",
                  SP_DEF_MAX_THRESHOLDS);
        sp_dw_path_pop(c, m);
        return;
    }
    l->stop_when = sp_calloc(json_array_size(any), sizeof(l->stop_when[0]));
    size_t i;
    json_t *t;
    json_array_foreach(any, i, t)
    {
        size_t mi = sp_dw_path_index(c, i);
        char e[ERRLEN] = "";
        sp_threshold th;
        memset(&th, 0, sizeof th);
        if (!json_is_string(t))
            sp_dw_err_type(c, "a string such as \"p95 > 2s\"", t);
        else if (sp_threshold_parse(json_string_value(t), (const char *const *)c->def->names,
                                    c->def->nnames, &th, e, sizeof e) != 0)
            sp_dw_err(c, "%s", e[0] ? e : "invalid condition");
        else if (th.relative) {
            /* A run judges its thresholds against a baseline at its end; the engine, which
             * breaks the run while it goes, has none. */
            sp_threshold_release(&th);
            sp_dw_err(c, "a stop_when condition cannot use the baseline (only thresholds can)");
        } else if (closed_open_metric(c, &th)) {
            sp_threshold_release(&th);
        } else {
            l->stop_when[l->nstop_when++] = th;
        }
        sp_dw_path_pop(c, mi);
    }
    sp_dw_path_pop(c, m);
}

/* ---- thresholds ---- */

void sp_dw_thresholds(sp_dw *c, const json_t *v)
{
    sp_def *d = c->def;
    if (!json_is_array(v)) {
        sp_dw_err_type(c, "an array of strings such as \"p95 < 300ms\"", v);
        return;
    }
    if (json_array_size(v) > SP_DEF_MAX_THRESHOLDS) {
        sp_dw_err(c, "more than %d thresholds", SP_DEF_MAX_THRESHOLDS);
        return;
    }
    d->thresholds = sp_calloc(json_array_size(v), sizeof(d->thresholds[0]));
    size_t i;
    json_t *t;
    json_array_foreach(v, i, t)
    {
        size_t m = sp_dw_path_index(c, i);
        if (!json_is_string(t)) {
            sp_dw_err_type(c, "a string such as \"p95 < 300ms\"", t);
        } else {
            char e[ERRLEN] = "";
            sp_threshold th;
            memset(&th, 0, sizeof th);
            /* "near: p95 < 300ms": a location of load.locations first, then the rest as any
             * threshold ("near: GET /products: p95 < 300ms" too). */
            const char *text = json_string_value(t), *colon = strchr(text, ':');
            char loc[SP_WIRE_MAX_NAME + 1] = "";
            if (colon && d->load.locations && (size_t)(colon - text) <= SP_WIRE_MAX_NAME) {
                snprintf(loc, sizeof loc, "%.*s", (int)(colon - text), text);
                if (json_object_get(d->load.locations, loc))
                    text = colon + 1;
                else
                    loc[0] = '\0';
            }
            int ok = sp_threshold_parse(text, (const char *const *)d->names, d->nnames, &th, e,
                                        sizeof e) == 0;
            if (ok && loc[0]) {
                free(th.src);
                th.src = sp_strdup(json_string_value(t));
                th.location = sp_strdup(loc);
            }
            if (!ok)
                sp_dw_err(c, "%s", e[0] ? e : "invalid threshold");
            else if (closed_open_metric(c, &th))
                sp_threshold_release(&th);
            else
                d->thresholds[d->nthresholds++] = th;
        }
        sp_dw_path_pop(c, m);
    }
}
