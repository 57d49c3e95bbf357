/*
 * api_files.c - see api_files.h.
 */
#include "api/api_files.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/json.h"
#include "base/log.h"
#include "engine/csv.h"
#include "engine/definition.h"
#include "engine/limits.h"

/*
 * Why a file name is no good as a name users read and send back, or NULL when it is: it must
 * be UTF-8 (shortest forms, no surrogates, nothing past U+10FFFF), since the list shows it in
 * JSON (bytes that are not become U+FFFD there, a name nothing finds); and printable: no C0 or
 * C1 control, no DEL, and none of the invisible characters that make one name look like
 * another or reorder what is shown (zero-width characters, bidi marks, embeddings, overrides
 * and isolates, line and paragraph separators, the byte order mark, noncharacters).
 */
static const char *name_problem(const char *name)
{
    const unsigned char *p = (const unsigned char *)name;
    while (*p) {
        uint32_t c;
        int n;
        if (p[0] < 0x80) {
            c = p[0];
            n = 1;
        } else if (p[0] >= 0xc2 && p[0] <= 0xdf) {
            c = p[0] & 0x1f;
            n = 2;
        } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
            c = p[0] & 0x0f;
            n = 3;
        } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
            c = p[0] & 0x07;
            n = 4;
        } else {
            return "is not UTF-8";
        }
        for (int i = 1; i < n; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return "is not UTF-8";
            c = c << 6 | (p[i] & 0x3f);
        }
        /* Longer forms than needed, UTF-16 surrogates and code points past Unicode's. */
        if ((n == 3 && c < 0x800) || (n == 4 && c < 0x10000) || (c >= 0xd800 && c <= 0xdfff) ||
            c > 0x10ffff)
            return "is not UTF-8";
        if (c < 0x20 || (c >= 0x7f && c <= 0x9f))
            return "has a control character";
        if ((c >= 0x200b && c <= 0x200f) || (c >= 0x2028 && c <= 0x202e) ||
            (c >= 0x2060 && c <= 0x2064) || (c >= 0x2066 && c <= 0x206f) || c == 0xfeff ||
            (c >= 0xfff9 && c <= 0xfffb))
            return "has an invisible formatting character";
        if ((c >= 0xfdd0 && c <= 0xfdef) || (c & 0xfffe) == 0xfffe)
            return "has a noncharacter";
        p += n;
    }
    return NULL;
}

/*
 * The file's full path from the route's PATH, in out, and PATH itself in *rel. Returns 0 when
 * PATH is allowed; otherwise answers 400 (see kit.h).
 */
static int full_path(sp_http_req *req, char *out, size_t outlen, const char **rel)
{
    int rc = 0;
    *rel = sp_http_param(req, "*");
    if (!*rel || !sp_def_file_path_ok(*rel))
        rc = sp_http_reply_error(req, SP_EINVAL, "path", NULL,
                                 "'%.200s': name a file by a relative path without '.' or "
                                 "'..' components (such as data/customers.csv)",
                                 *rel ? *rel : "");
    else if ((size_t)snprintf(out, outlen, "%s/%s", sp_kit_files_dir(req), *rel) >= outlen)
        rc = sp_http_reply_error(req, SP_EINVAL, "path", NULL, "the path is too long");
    else
        return 0;
    return sp_kit_answered(rc);
}

/* ---- List ---- */

typedef struct walk {
    json_t *items;
    size_t n;
} walk;

static void walk_dir(walk *w, const char *root, const char *rel, int depth)
{
    char dir[PATH_MAX];
    if (depth > SP_FILES_MAX_DEPTH ||
        (size_t)snprintf(dir, sizeof dir, "%s%s%s", root, rel[0] ? "/" : "", rel) >= sizeof dir)
        return;
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && w->n < SP_FILES_MAX_LIST) {
        if (e->d_name[0] == '.')
            continue; /* ".", "..", and the temporary files of uploads in progress */
        char sub[PATH_MAX], full[PATH_MAX];
        if ((size_t)snprintf(sub, sizeof sub, "%s%s%s", rel, rel[0] ? "/" : "", e->d_name) >=
                sizeof sub ||
            (size_t)snprintf(full, sizeof full, "%s/%s", root, sub) >= sizeof full)
            continue;
        struct stat st;
        if (lstat(full, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            walk_dir(w, root, sub, depth + 1);
        } else if (S_ISREG(st.st_mode) && sp_def_file_path_ok(sub) && !name_problem(sub)) {
            json_array_append_new(w->items,
                                  json_pack("{s:o, s:I, s:I}", "path", sp_json_string(sub), "bytes",
                                            (json_int_t)st.st_size, "updated_at",
                                            (json_int_t)st.st_mtime * 1000));
            w->n++;
        }
    }
    closedir(d);
}

static int h_files_list(sp_http_req *req, sp_store *s)
{
    SP_UNUSED(s);
    walk w = {json_array(), 0};
    walk_dir(&w, sp_kit_files_dir(req), "", 0);
    return sp_http_reply_json(
        req, 200, json_pack("{s:o, s:b}", "items", w.items, "truncated", w.n >= SP_FILES_MAX_LIST));
}

/* ---- Read ---- */

static int h_file_get(sp_http_req *req, sp_store *s)
{
    SP_UNUSED(s);
    char path[PATH_MAX];
    const char *rel;
    int rc = full_path(req, path, sizeof path, &rel);
    if (rc)
        return rc;
    if (!sp_def_file_below(path, sp_kit_files_dir(req)))
        return sp_http_reply_error(req, SP_ENOTFOUND, "path", NULL,
                                   "no data file '%.200s' on this server", rel);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        if (fd >= 0)
            close(fd);
        return sp_http_reply_error(req, SP_ENOTFOUND, "path", NULL,
                                   "no data file '%.200s' on this server", rel);
    }
    return sp_http_reply_fd(req, fd, (uint64_t)st.st_size, "text/csv; charset=utf-8");
}

/* ---- Write ---- */

/* The code of a failed system call on the data directory's disk: SP_EFULL when the disk (or the
 * quota) is full, so that it is answered as every write on a full disk is; else SP_ESYS. */
static int sys_code(void)
{
    return errno == ENOSPC || errno == EDQUOT ? SP_EFULL : SP_ESYS;
}

/* mkdir -p of the directories of rel below root (rel already checked: no "." or ".."). */
static int make_parents(const char *root, const char *rel)
{
    char p[PATH_MAX];
    if ((size_t)snprintf(p, sizeof p, "%s/%s", root, rel) >= sizeof p)
        return SP_EINVAL;
    for (char *s = p + strlen(root) + 1; (s = strchr(s, '/')) != NULL; s++) {
        *s = '\0';
        int ok = mkdir(p, 0700) == 0 || errno == EEXIST;
        *s = '/';
        if (!ok)
            return sys_code();
    }
    return 0;
}

/* Writes len bytes to path through a temporary file renamed over it. 0, SP_EFULL, SP_ESYS
 * (errno kept for the log) or SP_EINVAL. */
static int write_atomic(const char *path, const char *data, size_t len)
{
    char tmp[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (!slash)
        return SP_EINVAL;
    int dl = (int)(slash - path);
    if ((size_t)snprintf(tmp, sizeof tmp, "%.*s/.upload-%ld-%s", dl, path, (long)getpid(),
                         slash + 1) >= sizeof tmp)
        return SP_EINVAL;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return sys_code();
    int rc = 0;
    for (size_t off = 0; off < len;) {
        ssize_t n = write(fd, data + off, len - off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = sys_code();
            break;
        }
        off += (size_t)n;
    }
    if (rc == 0 && fsync(fd) != 0)
        rc = sys_code();
    if (close(fd) != 0 && rc == 0)
        rc = sys_code();
    if (rc == 0 && rename(tmp, path) != 0)
        rc = sys_code();
    if (rc) {
        int e = errno;
        unlink(tmp);
        errno = e;
    }
    return rc;
}

static int h_file_put(sp_http_req *req, sp_store *s)
{
    SP_UNUSED(s);
    char path[PATH_MAX];
    const char *rel;
    int rc = full_path(req, path, sizeof path, &rel);
    if (rc)
        return rc;
    const char *why = name_problem(rel);
    if (why)
        return sp_http_reply_error(req, SP_EINVAL, "path", NULL,
                                   "'%.200s' %s: name a data file in printable UTF-8", rel, why);
    json_t *body = sp_http_json(req);
    const char *content = json_string_value(json_object_get(body, "content"));
    if (!json_is_object(body) || !content)
        return sp_http_reply_error(req, SP_EINVAL, "content", NULL,
                                   "send {\"content\": \"...the CSV text...\"}");
    size_t len = json_string_length(json_object_get(body, "content"));
    sp_csv_opts co;
    memset(&co, 0, sizeof co);
    const char *delim = json_string_value(json_object_get(body, "delimiter"));
    if (delim && !(co.delimiter = sp_csv_delimiter_from_name(delim)))
        return sp_http_reply_error(req, SP_EINVAL, "delimiter", NULL,
                                   "unknown delimiter '%.20s': use \",\", \";\" or \"tab\"", delim);
    /* Checked as a definition would read it, so a saved file always loads. */
    co.name = rel;
    co.errpath = "content";
    sp_errlist el;
    sp_errlist_init(&el);
    sp_csv *csv = NULL;
    if (sp_csv_parse(content, len, &co, &csv, &el) != 0) {
        rc = sp_http_reply_error(req, SP_EDEFINITION, "content", NULL, "%s",
                                 el.n ? el.v[0].msg : "not a valid CSV file");
        sp_errlist_release(&el);
        return rc;
    }
    size_t rows = sp_csv_nrows(csv);
    sp_csv_free(csv);
    sp_errlist_release(&el);

    const char *root = sp_kit_files_dir(req);
    struct stat st;
    int existed = lstat(path, &st) == 0;
    if (existed && !S_ISREG(st.st_mode))
        return sp_http_reply_error(req, SP_ESTATE, "path", NULL,
                                   "'%.200s' is not a regular file on this server", rel);
    rc = make_parents(root, rel);
    if (rc == 0)
        rc = write_atomic(path, content, len);
    if (rc) {
        char cause[300];
        snprintf(cause, sizeof cause, "cannot write the data file %.200s: %s", rel,
                 strerror(errno));
        /* A full disk is answered as every write on it is (503 disk_full); the cause is logged. */
        if (rc == SP_EFULL)
            return sp_kit_store_error(req, rc, "", cause);
        sp_log_kv(SP_LOG_ERROR, "cannot write a data file", "path", rel, "error", cause, NULL);
        return sp_http_reply_error(req, SP_ESYS, "", NULL, "the file could not be written");
    }
    /* A directory of the path that is a link out of the data files directory: undo. */
    if (!sp_def_file_below(path, root)) {
        unlink(path);
        return sp_http_reply_error(req, SP_EINVAL, "path", NULL,
                                   "'%.200s' leaves the data files directory", rel);
    }
    char detail[64];
    snprintf(detail, sizeof detail, "%zu bytes, %zu rows", len, rows);
    sp_http_audit(req, "file.put", rel, detail);
    return sp_http_reply_json(req, existed ? 200 : 201,
                              json_pack("{s:o, s:I, s:I}", "path", sp_json_string(rel), "bytes",
                                        (json_int_t)len, "rows", (json_int_t)rows));
}

static int h_file_delete(sp_http_req *req, sp_store *s)
{
    SP_UNUSED(s);
    char path[PATH_MAX];
    const char *rel;
    int rc = full_path(req, path, sizeof path, &rel);
    if (rc)
        return rc;
    if (!sp_def_file_below(path, sp_kit_files_dir(req)) || unlink(path) != 0)
        return sp_http_reply_error(req, SP_ENOTFOUND, "path", NULL,
                                   "no data file '%.200s' on this server", rel);
    sp_http_audit(req, "file.delete", rel, NULL);
    return sp_http_reply_empty(req, 204);
}

const sp_api_route sp_api_files_routes[] = {
    {"GET", SP_API_PREFIX "/files", h_files_list, SP_PERM_READ, 0,
     "The server's data files (CSV files test definitions read)", 200, NULL},
    {"GET", SP_API_PREFIX "/files/*", h_file_get, SP_PERM_READ, 0, "One data file, as text/csv",
     200, NULL},
    {"PUT", SP_API_PREFIX "/files/*", h_file_put, SP_PERM_WRITE, SP_HTTP_JSON_BODY,
     "Upload or replace a data file (checked as CSV first)", 201, NULL},
    {"DELETE", SP_API_PREFIX "/files/*", h_file_delete, SP_PERM_WRITE, 0, "Delete a data file", 204,
     NULL},
};
const size_t sp_api_files_nroutes = SP_ARRAY_LEN(sp_api_files_routes);
