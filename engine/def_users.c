/*
 * def_users.c - the definition walk's user classes (def_walk.h): their variables (the first
 * pass), tasks, think time, CSV data file, headers and steps.
 */
#include "engine/def_walk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- variables: the first pass ---- */

static void add_var(sp_dw *c, sp_userclass *uc, const char *name, int *overflow)
{
    if (!sp_dw_is_ident(name) || sp_dw_is_reserved(name) || sp_dw_var_slot(uc, name) >= 0)
        return; /* bad names are reported where they are written, in the second pass */
    if (uc->nvars >= SP_DEF_MAX_VARS) {
        if (!*overflow)
            sp_dw_err(c, "more than %d distinct variables in one user class", SP_DEF_MAX_VARS);
        *overflow = 1;
        return;
    }
    uc->vars = sp_realloc(uc->vars, (uc->nvars + 1) * sizeof(uc->vars[0]));
    uc->vars[uc->nvars++] = sp_strdup(name);
}

static void collect_steps_vars(sp_dw *c, sp_userclass *uc, const json_t *steps, int *overflow);

/* First pass over one step: every variable its let and extract assign, a repeat's index, and
 * those of the steps inside a repeat, a choose or a group (the document's depth bounds the
 * recursion). */
static void collect_step_vars(sp_dw *c, sp_userclass *uc, const json_t *step, int *overflow)
{
    static const char *const keys[] = {"let", "extract"};
    if (!json_is_object(step))
        return;
    for (size_t k = 0; k < SP_ARRAY_LEN(keys); k++) {
        const json_t *o = json_object_get(step, keys[k]);
        const char *name;
        json_t *val;
        if (json_is_object(o))
            json_object_foreach((json_t *)o, name, val) add_var(c, uc, name, overflow);
    }
    const json_t *rep = json_object_get(step, "repeat");
    if (json_is_object(rep)) {
        const json_t *index = json_object_get(rep, "index");
        if (json_is_string(index))
            add_var(c, uc, json_string_value(index), overflow);
        collect_steps_vars(c, uc, json_object_get(rep, "steps"), overflow);
    }
    const json_t *grp = json_object_get(step, "group");
    if (json_is_object(grp))
        collect_steps_vars(c, uc, json_object_get(grp, "steps"), overflow);
    const json_t *ch = json_object_get(step, "choose");
    if (json_is_array(ch)) {
        size_t i;
        json_t *b;
        json_array_foreach(ch, i, b)
        {
            if (json_is_object(b))
                collect_steps_vars(c, uc, json_object_get(b, "steps"), overflow);
        }
    }
}

static void collect_steps_vars(sp_dw *c, sp_userclass *uc, const json_t *steps, int *overflow)
{
    size_t i;
    json_t *s;
    if (json_is_array(steps))
        json_array_foreach(steps, i, s) collect_step_vars(c, uc, s, overflow);
}

static void collect_vars(sp_dw *c, sp_userclass *uc, const json_t *u)
{
    int overflow = 0;
    size_t i;
    json_t *s, *t;
    const json_t *on_start = json_object_get(u, "on_start");
    if (json_is_array(on_start))
        json_array_foreach(on_start, i, s) collect_step_vars(c, uc, s, &overflow);
    uc->nstart_vars = uc->nvars;
    const json_t *tasks = json_object_get(u, "tasks");
    if (json_is_array(tasks)) {
        json_array_foreach(tasks, i, t)
        {
            const json_t *steps = json_is_object(t) ? json_object_get(t, "steps") : NULL;
            size_t j;
            if (json_is_array(steps))
                json_array_foreach(steps, j, s) collect_step_vars(c, uc, s, &overflow);
            else
                collect_step_vars(c, uc, t, &overflow);
        }
    }
    collect_steps_vars(c, uc, json_object_get(u, "on_stop"), &overflow);
}

/* ---- tasks and think time ---- */

static int get_weight(sp_dw *c, const json_t *obj, uint32_t *out)
{
    int64_t w = 1;
    int rc = sp_dw_get_int(c, obj, "weight", 1, WEIGHT_MAX, &w);
    *out = (uint32_t)w;
    return rc;
}

static const char *const short_task_fields[] = {"if",     "unless",  "let",         "request",
                                                "expect", "extract", "set_headers", "repeat",
                                                "choose", "group",   "name",        "weight"};

static void compile_task(sp_dw *c, sp_userclass *uc, const json_t *v, sp_task *task)
{
    static const char *const fields[] = {"name", "weight", "steps"};
    task->weight = 1;
    if (!json_is_object(v)) {
        sp_dw_err_type(c, "an object (a task)", v);
        return;
    }
    const json_t *steps = json_object_get(v, "steps");
    int shorthand = steps == NULL;
    if (shorthand)
        sp_dw_check_fields(c, v, short_task_fields, SP_ARRAY_LEN(short_task_fields));
    else
        sp_dw_check_fields(c, v, fields, SP_ARRAY_LEN(fields));
    const char *name = sp_dw_get_str(c, v, "name", 0);
    if (name) {
        if (!name[0] || strlen(name) > NAME_MAX_LEN)
            sp_dw_err_key(c, "name", "a task name must have 1 to %d characters", NAME_MAX_LEN);
        else if (!sp_dw_no_tmpl(c, name, "name",
                                "a task's name is a label for people, shown as written"))
            task->name = sp_strdup(name);
    }
    get_weight(c, v, &task->weight);
    if (shorthand) {
        task->steps = sp_calloc(1, sizeof(task->steps[0]));
        task->nsteps = 1;
        sp_dw_step(c, uc, v, &task->steps[0], 1);
    } else {
        size_t m = sp_dw_path_key(c, "steps");
        sp_dw_steps(c, uc, steps, &task->steps, &task->nsteps, 0);
        sp_dw_path_pop(c, m);
    }
}

static int compile_think(sp_dw *c, const json_t *v, sp_think *th)
{
    static const char *const fields[] = {"constant_ms", "between_ms", "pacing_ms",
                                         "constant",    "between",    "pacing"};
    if (!json_is_object(v)) {
        sp_dw_err_type(c,
                       "an object ({\"between\": [\"1s\", \"3s\"]}, {\"constant\": \"2s\"} or "
                       "{\"pacing\": \"5s\"})",
                       v);
        return -1;
    }
    sp_dw_check_fields(c, v, fields, SP_ARRAY_LEN(fields));
    const char *key = NULL;
    const json_t *val = NULL;
    size_t found = 0;
    for (size_t i = 0; i < SP_ARRAY_LEN(fields); i++) {
        const json_t *x = json_object_get(v, fields[i]);
        if (x) {
            found++;
            if (!key) {
                key = fields[i];
                val = x;
            }
        }
    }
    if (found != 1) {
        sp_dw_err(c, "give exactly one of constant, between and pacing (or their _ms spellings)");
        return -1;
    }
    int ms_only = strstr(key, "_ms") != NULL;
    size_t m = sp_dw_path_key(c, key);
    int rc = -1;
    int64_t a = 0, b = 0;
    if (strncmp(key, "between", 7) == 0) {
        if (!json_is_array(val) || json_array_size(val) != 2) {
            sp_dw_err(c, "expected an array of two durations [min, max]");
            goto out;
        }
        for (size_t i = 0; i < 2; i++) {
            const json_t *x = json_array_get(val, i); /* borrowed */
            size_t mi = sp_dw_path_index(c, i);
            int r;
            if (ms_only && !json_is_number(x)) {
                sp_dw_err_type(c, "a number of milliseconds", x);
                r = -1;
            } else {
                r = sp_dw_duration(c, x, i ? &b : &a);
            }
            sp_dw_path_pop(c, mi);
            if (r)
                goto out;
        }
        if (a > b) {
            sp_dw_err(c, "the minimum is larger than the maximum");
            goto out;
        }
        th->kind = SP_THINK_BETWEEN;
    } else {
        if (ms_only && !json_is_number(val)) {
            sp_dw_err_type(c, "a number of milliseconds", val);
            goto out;
        }
        if (sp_dw_duration(c, val, &a))
            goto out;
        b = a;
        th->kind = key[0] == 'c' ? SP_THINK_CONSTANT : SP_THINK_PACING;
    }
    th->min_ms = (uint32_t)a;
    th->max_ms = (uint32_t)b;
    rc = 0;
out:
    sp_dw_path_pop(c, m);
    return rc;
}

/* ---- data files ---- */

int sp_def_file_path_ok(const char *file)
{
    if (file[0] == '/' || strlen(file) > SP_DEF_MAX_FILE_PATH)
        return 0;
    const char *p = file;
    for (;;) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return 0;
        if (!e)
            return 1;
        p = e + 1;
    }
}

int sp_def_file_below(const char *path, const char *dir)
{
    char *rp = realpath(path, NULL);
    char *rd = realpath(dir, NULL);
    size_t n = rd ? strlen(rd) : 0;
    struct stat st;
    int ok = rp && rd && strncmp(rp, rd, n) == 0 && rp[n] == '/' && stat(rp, &st) == 0 &&
             S_ISREG(st.st_mode);
    free(rp);
    free(rd);
    return ok;
}

/*
 * A class's data file: {"csv": PATH, "mode": "sequential"|"random"|"unique", "on_exhausted":
 * "stop"|"recycle", "per": "iteration"|"vu", "delimiter": ","|";"|"tab"}. PATH is relative to
 * the definition's directory. Files are read only for definitions loaded with a directory (the
 * CLI's sp_def_load_file): a definition sent to the server must not read the server's files.
 */
static void compile_data_file(sp_dw *c, const json_t *v, sp_userclass *uc)
{
    static const char *const fields[] = {"csv", "mode", "on_exhausted", "per", "delimiter"};
    char *full = NULL;
    if (!json_is_object(v)) {
        sp_dw_err_type(c, "an object such as {\"csv\": \"data/users.csv\"}", v);
        return;
    }
    sp_dw_check_fields(c, v, fields, SP_ARRAY_LEN(fields));
    const char *file = sp_dw_get_str(c, v, "csv", 1);
    const char *mode = sp_dw_get_str(c, v, "mode", 0);
    const char *exh = sp_dw_get_str(c, v, "on_exhausted", 0);
    const char *per = sp_dw_get_str(c, v, "per", 0);
    const char *delim = sp_dw_get_str(c, v, "delimiter", 0);
    sp_csv_opts co;
    memset(&co, 0, sizeof co);
    memset(&uc->feed, 0, sizeof uc->feed);
    if (mode && sp_feed_mode_from_name(mode, &uc->feed.mode) != 0)
        sp_dw_err_key(c, "mode", "unknown mode '%.100s': use sequential, random or unique", mode);
    if (exh && sp_feed_exhausted_from_name(exh, &uc->feed.on_exhausted) != 0)
        sp_dw_err_key(c, "on_exhausted", "unknown value '%.100s': use stop or recycle", exh);
    if (per && sp_feed_per_from_name(per, &uc->feed.per) != 0)
        sp_dw_err_key(c, "per", "unknown value '%.100s': use iteration or vu", per);
    if (delim && !(co.delimiter = sp_csv_delimiter_from_name(delim)))
        sp_dw_err_key(c, "delimiter", "unknown delimiter '%.20s': use \",\", \";\" or \"tab\"",
                      delim);
    if (!file)
        return;
    if (!file[0]) {
        sp_dw_err_key(c, "csv", "give the path of a CSV file");
        return;
    }
    if (sp_dw_no_tmpl(c, file, "csv", "a data file's path is read when the test loads"))
        return;
    if (!c->base_dir) {
        sp_dw_err_key(c, "csv",
                      "CSV data files are read only for definitions run from a file "
                      "(stampede run FILE)");
        return;
    }
    if (c->confined && !sp_def_file_path_ok(file)) {
        sp_dw_err_key(
            c, "csv",
            "'%.200s': name a file in the server's data files directory by a relative path "
            "without '..' (such as data/customers.csv)",
            file);
        return;
    }
    if (file[0] == '/') {
        full = sp_strdup(file);
    } else {
        sp_buf b;
        sp_buf_init(&b, 4096);
        if (sp_buf_addf(&b, "%s/%s", c->base_dir, file) != 0) {
            sp_buf_release(&b);
            sp_dw_err_key(c, "csv", "the path is too long");
            return;
        }
        full = sp_buf_detach(&b, NULL);
    }
    if (c->confined && !sp_def_file_below(full, c->base_dir)) {
        /* A symbolic link out of the directory, or a file that is not there: either way the
         * message names only what the definition said, not the server's paths. */
        sp_dw_err_key(c, "csv", "'%.200s': no such file among the server's data files", file);
        free(full);
        return;
    }
    size_t m = sp_dw_path_key(c, "csv");
    co.errpath = c->path.p;
    co.name = c->confined ? file : full;
    if (sp_csv_load(full, &co, &uc->csv, c->errs) != 0)
        uc->csv = NULL; /* the error is in c->errs, with this path */
    sp_dw_path_pop(c, m);
    free(full);
}

/* ---- user classes ---- */

static void compile_user(sp_dw *c, const json_t *u, size_t idx, sp_userclass *uc)
{
    static const char *const fields[] = {"name",     "weight", "think",   "headers",
                                         "on_start", "tasks",  "on_stop", "data_file"};
    c->class_steps = 0;
    c->nest = 0;
    uc->weight = 1;
    if (!json_is_object(u)) {
        sp_dw_err_type(c, "an object (a user class)", u);
        return;
    }
    sp_dw_check_fields(c, u, fields, SP_ARRAY_LEN(fields));
    const char *name = sp_dw_get_str(c, u, "name", 0);
    char dflt[32];
    if (!name) {
        snprintf(dflt, sizeof dflt, "user%zu", idx + 1);
        name = dflt;
    } else if (!name[0] || strlen(name) > NAME_MAX_LEN) {
        sp_dw_err_key(c, "name", "a user class name must have 1 to %d characters", NAME_MAX_LEN);
    } else {
        sp_dw_no_tmpl(c, name, "name", "a user class's name is shown as written");
    }
    for (size_t i = 0; i < idx; i++)
        if (c->def->users[i].name && strcmp(c->def->users[i].name, name) == 0)
            sp_dw_err_key(c, "name", "users[%zu] already has the name '%.100s'", i, name);
    uc->name = sp_strdup(name);
    get_weight(c, u, &uc->weight);
    const json_t *th = json_object_get(u, "think");
    if (th) {
        size_t m = sp_dw_path_key(c, "think");
        compile_think(c, th, &uc->think);
        sp_dw_path_pop(c, m);
    }

    const json_t *df = json_object_get(u, "data_file");
    if (df) {
        size_t m = sp_dw_path_key(c, "data_file");
        compile_data_file(c, df, uc);
        sp_dw_path_pop(c, m);
    }
    if (uc->csv)
        c->scope.row_fields = sp_csv_fields(uc->csv, &c->scope.nrow_fields);

    collect_vars(c, uc, u);
    c->scope.vars = (const char *const *)uc->vars;
    c->scope.nvars = uc->nvars;

    const json_t *h = json_object_get(u, "headers");
    if (h) {
        size_t m = sp_dw_path_key(c, "headers");
        sp_dw_headers(c, h, &uc->headers, &uc->nheaders, NULL);
        sp_dw_path_pop(c, m);
    }
    const json_t *os = json_object_get(u, "on_start");
    if (os) {
        size_t m = sp_dw_path_key(c, "on_start");
        sp_dw_steps(c, uc, os, &uc->on_start, &uc->non_start, 1);
        sp_dw_path_pop(c, m);
    }
    const json_t *ost = json_object_get(u, "on_stop");
    if (ost) {
        size_t m = sp_dw_path_key(c, "on_stop");
        sp_dw_steps(c, uc, ost, &uc->on_stop, &uc->non_stop, 1);
        sp_dw_path_pop(c, m);
    }
    const json_t *tasks = json_object_get(u, "tasks");
    if (!tasks) {
        sp_dw_err_missing(c, "tasks");
    } else {
        size_t m = sp_dw_path_key(c, "tasks");
        size_t n = json_is_array(tasks) ? json_array_size(tasks) : 0;
        if (!json_is_array(tasks)) {
            sp_dw_err_type(c, "an array of tasks", tasks);
        } else if (n == 0 || n > SP_DEF_MAX_TASKS) {
            sp_dw_err(c, "give between 1 and %d tasks", SP_DEF_MAX_TASKS);
        } else {
            uc->tasks = sp_calloc(n, sizeof(uc->tasks[0]));
            for (size_t i = 0; i < n; i++) {
                size_t mi = sp_dw_path_index(c, i);
                compile_task(c, uc, json_array_get(tasks, i), &uc->tasks[i]); /* borrowed */
                uc->ntasks++;
                uc->total_weight += uc->tasks[i].weight;
                sp_dw_path_pop(c, mi);
            }
        }
        sp_dw_path_pop(c, m);
    }
    c->scope.vars = NULL;
    c->scope.nvars = 0;
    c->scope.row_fields = NULL;
    c->scope.nrow_fields = 0;
}

void sp_dw_users(sp_dw *c, const json_t *users)
{
    sp_def *d = c->def;
    size_t n = json_is_array(users) ? json_array_size(users) : 0;
    if (!json_is_array(users)) {
        sp_dw_err_type(c, "an array of user classes", users);
    } else if (n == 0 || n > SP_DEF_MAX_USERS) {
        sp_dw_err(c, "give between 1 and %d user classes", SP_DEF_MAX_USERS);
    } else {
        d->users = sp_calloc(n, sizeof(d->users[0]));
        for (size_t i = 0; i < n; i++) {
            size_t mi = sp_dw_path_index(c, i);
            compile_user(c, json_array_get(users, i), i, &d->users[i]); /* borrowed */
            d->nusers++;
            d->total_weight += d->users[i].weight;
            sp_dw_path_pop(c, mi);
        }
    }
}

void sp_dw_user_free(sp_userclass *uc)
{
    free(uc->name);
    sp_dw_headers_free(uc->headers, uc->nheaders);
    for (size_t i = 0; i < uc->non_start; i++)
        sp_dw_step_free(&uc->on_start[i]);
    free(uc->on_start);
    for (size_t i = 0; i < uc->non_stop; i++)
        sp_dw_step_free(&uc->on_stop[i]);
    free(uc->on_stop);
    for (size_t i = 0; i < uc->ntasks; i++) {
        free(uc->tasks[i].name);
        for (size_t j = 0; j < uc->tasks[i].nsteps; j++)
            sp_dw_step_free(&uc->tasks[i].steps[j]);
        free(uc->tasks[i].steps);
    }
    free(uc->tasks);
    for (size_t i = 0; i < uc->nvars; i++)
        free(uc->vars[i]);
    free(uc->vars);
    sp_csv_free(uc->csv);
}
