/*
 * sql.h - the SQL kit: how the server's modules talk to SQLite (the store, accounts, backups).
 *
 * One way to do each of the things every user of SQLite here does: open a hardened connection,
 * keep a table of static statements prepared once, bind parameters, read columns into C and
 * Jansson values, run a write transaction, and turn a SQLite result into an SP_E* code with a
 * message kept for the caller. SQL only goes through prepared statements and sqlite3_bind_*;
 * there is no way to paste a value into SQL text here.
 *
 * Calling sequence:
 *   sp_sql_open(&q, path, flags, &cfg, why, n)      a connection and its statement table
 *   st = sp_sql_query(q, Q_X, "ls", id, name)       the statement with id Q_X, bound
 *   while ((rc = sp_sql_next(q, st)) > 0)           1: a row, 0: the end, < 0: failed
 *       ... sp_sql_col(st, 0, 's'), sp_sql_row(st, "id:i name:s") ...
 *   sp_sql_done(st)                                  reset and unbound: ready for the next user
 *   sp_sql_run(q, Q_Y, "l", id)                      a whole statement whose rows are not read
 *   ret = sp_sql_begin(q) ... sp_sql_end(q, ret)     a write transaction (BEGIN IMMEDIATE),
 *                                                    committed when ret is 0, else rolled back
 *   sp_sql_close(q)
 * A statement is reset by the function that used it before that function returns (sp_sql_done,
 * or sp_sql_run, sp_sql_each, sp_sql_rows and sp_sql_one_int, which do it themselves), so the
 * next caller finds it ready and an idle connection holds no read snapshot that would hold back
 * a WAL checkpoint.
 *
 * Binding by format: fmt has one letter per parameter, bound to ?1, ?2, ... in order:
 *   'i' int   'l' int64_t   'f' double   's' const char * (NULL binds NULL)
 *   'S' const char *, int length   'b' const void *, int length (NULL binds NULL)
 *   'j' const json_t * (compact JSON text; NULL binds NULL)   '-' NULL (no argument)
 * Text and blobs are borrowed (SQLITE_STATIC): they must stay valid until the statement is
 * reset, which the calling sequence above guarantees. Pass exactly the C type the letter names
 * (cast an int to int64_t for 'l'): varargs are not type-checked.
 *
 * Reading into JSON, by kind letter (sp_sql_col, and the specs of sp_sql_row):
 *   'i' integer   'n' number as a real (integers too)   'b' true/false from an integer
 *   's' text; bytes that are not UTF-8 become U+FFFD, so the result always serialises
 *   'a' text through sp_json_string() (base/json.h): not UTF-8, every byte above 0x7f is '?'
 *   'j' JSON text the server wrote itself, parsed; text that does not parse comes back a string
 * Every kind gives JSON null for SQL NULL ('n' also for text). A spec names the row's columns
 * in order, each as key:kind, separated by spaces: "id:i name:s created_at:i" makes column 0
 * "id", column 1 "name" and column 2 "created_at" (from column 0 for sp_sql_row(), from the
 * column given for sp_sql_row_add()).
 *
 * Errors: functions return 0 (or a row flag) or a negative SP_E* code. sp_sql_code() is the one
 * mapping of SQLite results: a constraint is the caller's doing (SP_ESTATE), a busy or locked
 * database (another writer held the lock past the busy timeout) is SP_EUNAVAILABLE, a full
 * disk (SQLITE_FULL) is SP_EFULL, and every other failure (IOERR, CORRUPT, NOTADB, a statement
 * that does not prepare, ...) is SP_EIO. On a connection, an I/O error whose system call failed
 * with ENOSPC or EDQUOT (an fsync or a -shm page that found the disk full) is SP_EFULL too.
 * These codes go up unchanged through every module that uses the kit (base/errors.h), so a
 * full disk reads the same wherever it is met. Each failure on a connection records SQLite's
 * message, result code and SP_E* code (sp_sql_errmsg(), sp_sql_errcode(), sp_sql_lastcode()),
 * kept until the next failure, so a caller can say why after a rollback has run.
 *
 * Threads: a connection is opened without SQLite's own mutex; one sp_sql is used by one thread
 * at a time (the caller's lock, or one connection per thread), and never in a child of fork().
 *
 * Memory: json_t results are new references owned by the caller.
 */
#ifndef SP_SQL_H
#define SP_SQL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <sqlite3.h>

typedef struct sp_sql sp_sql;

/* ---- Connections ---- */

/*
 * Opens path with flags (SQLITE_OPEN_READONLY, or SQLITE_OPEN_READWRITE with or without
 * SQLITE_OPEN_CREATE; the kit adds NOMUTEX and extended result codes) and hardens it:
 * SQLITE_DBCONFIG_DEFENSIVE on, TRUSTED_SCHEMA and extension loading off, busy timeout
 * SP_STORE_BUSY_TIMEOUT_MS. *db is the caller's (sqlite3_close() it). On failure *db is NULL,
 * why gets SQLite's reason and the result is SP_ESYS.
 */
int sp_sql_connect(sqlite3 **db, const char *path, int flags, char *why, size_t whylen);

typedef struct sp_sql_config {
    const char *const *texts; /* the statement table: texts[id] is the SQL of statement id */
    size_t ntexts;
    const char *log_as; /* NULL, or a module name: a statement that does not prepare is then
                           logged as "<log_as>: cannot prepare a statement" (base/log.h) */
} sp_sql_config;

/* sp_sql_connect() with a statement table (cfg is copied; the texts are borrowed and must live
 * as long as the connection, static tables in practice). */
int sp_sql_open(sp_sql **out, const char *path, int flags, const sp_sql_config *cfg, char *why,
                size_t whylen);
/* Finalizes the statements and closes the connection. 0, or SP_EIO when SQLite could not close
 * it. NULL is ignored. */
int sp_sql_close(sp_sql *q);
/* Frees q without touching SQLite: for a child of fork(), where a close could checkpoint or
 * delete the parent's WAL. The SQLite objects are leaked. NULL is ignored. */
void sp_sql_abandon(sp_sql *q);
/* The connection, for what the kit does not wrap (the backup API, a checkpoint). */
sqlite3 *sp_sql_db(sp_sql *q);

/* ---- Statements ---- */

/* Statement id of the table, prepared on first use (SQLITE_PREPARE_PERSISTENT) and kept for the
 * life of the connection. NULL when it does not prepare (the message is recorded). */
sqlite3_stmt *sp_sql_stmt(sp_sql *q, int id);
/* Statement id, bound by fmt (see the top of this file) and ready to step; NULL when it does not
 * prepare or a value cannot be bound (recorded; the statement is left reset). */
sqlite3_stmt *sp_sql_query(sp_sql *q, int id, const char *fmt, ...);
/* Steps st: 1 with a row to read, 0 at the end, or a negative code (recorded). */
int sp_sql_next(sp_sql *q, sqlite3_stmt *st);
/* Steps st (NULL: from a sp_sql_query() that failed, SP_EIO) to its first row: 0 on it, to be
 * read; SP_ENOTFOUND without one; or a negative code (recorded). The caller resets st with
 * sp_sql_done() in every case. */
int sp_sql_first(sp_sql *q, sqlite3_stmt *st);
/* Steps st over the rest of its rows, then resets it: 0 or a negative code (recorded). */
int sp_sql_finish(sp_sql *q, sqlite3_stmt *st);
/* Resets st and clears its bindings. NULL is ignored. */
void sp_sql_done(sqlite3_stmt *st);
/* Runs statement id bound by fmt to its end, rows unread, and resets it: 0 or a negative code
 * (SP_EIO when it does not prepare). */
int sp_sql_run(sp_sql *q, int id, const char *fmt, ...);
/* Column 0 of the first row of statement id bound by fmt into *out: 0; SP_ENOTFOUND without a
 * row (*out unchanged); or a negative code. The statement is reset. */
int sp_sql_one_int(sp_sql *q, int id, int64_t *out, const char *fmt, ...);
/* Rows changed by the last INSERT, UPDATE or DELETE, and the rowid of the last INSERT. */
int sp_sql_changes(sp_sql *q);
int64_t sp_sql_last_id(sp_sql *q);

/* ---- Binding ---- */

/* Binds st's parameters ?1, ?2, ... by fmt (see the top of this file). 0, or SP_EINVAL for a
 * format with more or fewer letters than st has parameters (nothing bound), an unknown letter
 * or a value SQLite refuses (too big). */
int sp_sql_bind(sqlite3_stmt *st, const char *fmt, ...);
int sp_sql_vbind(sqlite3_stmt *st, const char *fmt, va_list ap);

/* ---- Reading ---- */

/* Column i of st's current row as a new JSON value of the given kind (see the top). */
json_t *sp_sql_col(sqlite3_stmt *st, int i, char kind);
/* Copies column i's text into out (outlen bytes, cut to fit, "" for NULL). */
void sp_sql_col_copy(sqlite3_stmt *st, int i, char *out, size_t outlen);
/* The current row as a new object, from column 0, by spec (see the top). */
json_t *sp_sql_row(sqlite3_stmt *st, const char *spec);
/* Adds to obj the columns from column first on, by spec. */
void sp_sql_row_add(json_t *obj, sqlite3_stmt *st, int first, const char *spec);
/* Steps st (bound; NULL: from a sp_sql_query() that failed, SP_EIO) over its rows, calling
 * fn(st, ctx) on each: fn returns 0 to go on, or a negative code to stop with. Resets st.
 * Returns 0, fn's code or the step's failure. */
int sp_sql_each(sp_sql *q, sqlite3_stmt *st, int (*fn)(sqlite3_stmt *st, void *ctx), void *ctx);
/* Steps st (as sp_sql_each) to its end, one object a row by spec, into *out, a new array.
 * 0, or a negative code with *out NULL. */
int sp_sql_rows(sp_sql *q, sqlite3_stmt *st, const char *spec, json_t **out);

/* ---- Transactions ---- */

/* BEGIN IMMEDIATE: takes the write lock now, waiting for another writer through the busy
 * timeout, because a transaction that reads first and then wants to write cannot wait (SQLite
 * fails it at once to avoid a deadlock). 0 or a negative code. */
int sp_sql_begin(sp_sql *q);
/* COMMIT. On failure the transaction is rolled back when SQLite left it open, and the commit's
 * failure is what is returned and recorded. */
int sp_sql_commit(sp_sql *q);
/* Ends the transaction: COMMIT when ret is 0, else ROLLBACK. Returns ret, or the commit's
 * failure. The one exit of a write: `ret = sp_sql_begin(q); ...; return sp_sql_end(q, ret);`. */
int sp_sql_end(sp_sql *q, int ret);
/* ROLLBACK when a transaction is open (a failed statement may have ended it already). Keeps the
 * recorded failure. */
void sp_sql_rollback(sp_sql *q);

/* ---- Errors ---- */

/* The SP_E* code of a SQLite result code (extended or primary): 0 for OK, ROW and DONE;
 * SP_ESTATE for a constraint; SP_EUNAVAILABLE for busy and locked; SP_EFULL for SQLITE_FULL;
 * SP_EIO otherwise. */
int sp_sql_code(int rc);
/* Records SQLite's message for the failure rc on q and returns its code: sp_sql_code(rc), or
 * SP_EFULL for an I/O error whose system call found the disk full (ENOSPC, EDQUOT). */
int sp_sql_fail(sp_sql *q, int rc);
/* Records a message of the caller's in place of SQLite's (the recorded result code stays). */
void sp_sql_setmsg(sp_sql *q, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Forgets the recorded failure (message "", result code 0). */
void sp_sql_clear(sp_sql *q);
/* The message of the last recorded failure ("" when none); valid until the next failure. */
const char *sp_sql_errmsg(const sp_sql *q);
/* The SQLite result code of the last recorded failure (extended), 0 when none. */
int sp_sql_errcode(const sp_sql *q);
/* The SP_E* code sp_sql_fail() returned for the last recorded failure, 0 when none: for a
 * module that reports a failure later than it met it (after a rollback, or as its own code). */
int sp_sql_lastcode(const sp_sql *q);

/* ---- One-off SQL on a bare connection (scripts compiled in, checks of a file) ---- */

/* Runs each statement of script in turn (a migration, pragmas), rows unread. Returns SQLite's
 * result code: SQLITE_OK, or the first failure (sqlite3_errmsg(db) says why). */
int sp_sql_exec(sqlite3 *db, const char *script);
/* Column 0 of the first row of sql into *out. SQLITE_OK, SQLITE_DONE without a row, or the
 * failure. */
int sp_sql_exec_int(sqlite3 *db, const char *sql, int64_t *out);
/* The same for text (a pragma's answer): copied into out (cut to fit, "" for NULL). */
int sp_sql_exec_text(sqlite3 *db, const char *sql, char *out, size_t outlen);

#endif
