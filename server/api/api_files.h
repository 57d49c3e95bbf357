/*
 * api_files.h - the server's data files: the CSV files test definitions read
 * ("data_file": {"csv": "data/customers.csv"}), kept in DATA_DIR/files (sp_kit_files_dir).
 *     GET    /api/v1/files           {"items": [{"path", "bytes", "updated_at"}], "truncated"}
 *     GET    /api/v1/files/PATH      the file (text/csv)
 *     PUT    /api/v1/files/PATH      {"content": "id,name\n...", "delimiter": ","}  (201 or 200)
 *     DELETE /api/v1/files/PATH      204
 * PATH is what definitions name: relative, without "." or ".." components
 * (sp_def_file_path_ok). An upload's PATH must also be printable UTF-8 (no control, bidi or
 * invisible formatting character), so that the name it is listed by (JSON, always UTF-8) is
 * the name that reads and deletes it; the list leaves out names that are not (older versions
 * stored them; GET and DELETE still take their bytes percent-encoded). An upload is parsed as CSV
 * first (422 naming the line otherwise) and replaces the file atomically (a temporary file in the
 * same directory, renamed over it), so a run that reads it sees the old file or the new one, never
 * half of one. Uploads come as JSON, so they are capped by SP_HTTP_MAX_BODY; larger files an admin
 * puts in the directory by hand. Changes are audited. Registered by api.c.
 *
 * Threads: handlers run on the HTTP server's threads; the file system is the only shared
 * state, and rename() keeps each change whole.
 */
#ifndef SP_API_FILES_H
#define SP_API_FILES_H

#include <stddef.h>

#include "api/kit.h"

/* The routes, in the order api.c serves them (static). */
extern const sp_api_route sp_api_files_routes[];
extern const size_t sp_api_files_nroutes;

#endif
