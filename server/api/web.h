/*
 * web.h - the dashboard's files compiled into the binary (generated at build time from web/
 * and uPlot's dist files by server/api/embed_web.cmake), served by server/api/api_web.c at /
 * and /assets/.
 *
 * The table is static, read-only data: any thread may read it at any time.
 */
#ifndef SP_WEB_H
#define SP_WEB_H

#include <stddef.h>

typedef struct sp_web_file {
    const char *path;         /* relative to web/: "index.html", "assets/app.js" */
    const char *content_type; /* e.g. "text/javascript; charset=utf-8" */
    const unsigned char *data;
    size_t len;
    const char *etag; /* a quoted strong validator from the content's SHA-256 */
} sp_web_file;

/* Every embedded file; *n gets their number. */
const sp_web_file *sp_web_files(size_t *n);

/* The embedded file at path (relative, as above), or NULL. */
const sp_web_file *sp_web_find(const char *path);

#endif
