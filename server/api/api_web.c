/*
 * api_web.c - see api_web.h.
 */
#define _GNU_SOURCE /* O_CLOEXEC */
#include "api/api_web.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/web.h"

static const char *content_type_for(const char *path)
{
    static const struct {
        const char *ext;
        const char *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".json", "application/json"},
        {".map", "application/json"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".ico", "image/x-icon"},
        {".woff2", "font/woff2"},
        {".txt", "text/plain; charset=utf-8"},
    };
    const char *dot = strrchr(path, '.');
    for (size_t i = 0; dot && i < SP_ARRAY_LEN(types); i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].type;
    return "application/octet-stream";
}

/* Whether a relative path under the web root is safe to open: segments of [A-Za-z0-9._-],
 * none empty, none starting with '.' (no "..", no hidden files). */
static int safe_relpath(const char *rel)
{
    if (!*rel || strlen(rel) > 512)
        return 0;
    int seg_start = 1;
    for (const char *p = rel; *p; p++) {
        char c = *p;
        if (c == '/') {
            if (seg_start)
                return 0;
            seg_start = 1;
            continue;
        }
        if (seg_start && c == '.')
            return 0;
        seg_start = 0;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '_' || c == '-';
        if (!ok)
            return 0;
    }
    return !seg_start;
}

/* Whether a file of the web root (safe_relpath checked) can be served: open, regular, inside
 * the root. Returns the open descriptor and its size, or -1. */
static int open_in_root(const char *root, const char *rel, uint64_t *size)
{
    char full[PATH_MAX];
    if ((size_t)snprintf(full, sizeof full, "%s/%s", root, rel) >= sizeof full)
        return -1;
    /* The path is checked by its characters, and the file it resolves to (through any
     * symbolic link in the tree) must still lie under the root. */
    char *real = realpath(full, NULL);
    size_t rootlen = strlen(root);
    int inside = real && strncmp(real, root, rootlen) == 0 && real[rootlen] == '/';
    free(real);
    if (!inside)
        return -1;
    int fd = open(full, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *size = (uint64_t)st.st_size;
    return fd;
}

const sp_web_file *sp_web_find(const char *path)
{
    size_t n;
    const sp_web_file *f = sp_web_files(&n);
    for (size_t i = 0; i < n; i++)
        if (strcmp(f[i].path, path) == 0)
            return &f[i];
    return NULL;
}

/* Sends rel from the web root when one is given and holds it, else the embedded copy (so a
 * development root need not hold the npm files), else 404. Embedded files carry an ETag and
 * answer a matching If-None-Match with 304: pages are sent with Cache-Control: no-cache, so
 * the browser revalidates each load and an unchanged file costs one small round trip. */
static int send_file(sp_http_req *req, const char *rel)
{
    const char *root = sp_kit_web_root(req);
    if (!safe_relpath(rel))
        return sp_http_reply_error(req, SP_ENOTFOUND, "", NULL, "no such file");
    if (root) {
        uint64_t size = 0;
        int fd = open_in_root(root, rel, &size);
        if (fd >= 0)
            return sp_http_reply_fd(req, fd, size, content_type_for(rel)); /* owns fd */
    }
    const sp_web_file *f = sp_web_find(rel);
    if (!f)
        return sp_http_reply_error(req, SP_ENOTFOUND, "", NULL, "no such file");
    sp_http_add_header(req, "ETag", f->etag);
    const char *inm = sp_http_header(req, "If-None-Match");
    if (inm && strstr(inm, f->etag))
        return sp_http_reply_static(req, 304, f->content_type, "", 0);
    return sp_http_reply_static(req, 200, f->content_type, f->data, f->len);
}

static int h_index(sp_http_req *req, sp_store *s)
{
    SP_UNUSED(s);
    return send_file(req, "index.html");
}

static int h_asset(sp_http_req *req, sp_store *s)
{
    SP_UNUSED(s);
    char rel[600];
    if ((size_t)snprintf(rel, sizeof rel, "assets/%s", sp_http_param(req, "*")) >= sizeof rel)
        return sp_http_reply_error(req, SP_ENOTFOUND, "", NULL, "no such file");
    return send_file(req, rel);
}

const sp_api_route sp_api_web_routes[] = {
    {"GET", "/", h_index, SP_PERM_PUBLIC, SP_HTTP_PAGE, "The dashboard", 200, NULL},
    {"GET", "/assets/*", h_asset, SP_PERM_PUBLIC, SP_HTTP_PAGE, "The dashboard's files", 200, NULL},
};
const size_t sp_api_web_nroutes = SP_ARRAY_LEN(sp_api_web_routes);
