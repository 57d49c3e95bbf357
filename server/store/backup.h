/*
 * backup.h - `stampede backup` and `stampede restore`: a copy of the database that is
 * consistent while the server runs, and putting one back.
 *
 * A backup is one SQLite file (rollback journal, no -wal beside it) made with SQLite's online
 * backup API from a read-only connection of its own, in a single step, so it is one read
 * transaction: the copy is the database as of one instant, while the server keeps writing
 * (WAL readers do not block writers, nor writers them). It is written to a temporary file
 * next to the target, checked (PRAGMA integrity_check, Stampede's application_id, a schema
 * version this binary knows), synced and renamed into place, so a failed backup leaves no
 * half-written file under the target's name.
 *
 * Temporaries: the copy is written as TARGET.tmp-PID (SQLite adds TARGET.tmp-PID-journal while
 * it writes). A backup killed mid-way (kill -9, a power cut) leaves them behind, and the next
 * backup into the same directory removes them, whatever their target was: a file named
 * NAME.tmp-PID (with or without -journal, -wal or -shm) is removed when process PID is not
 * alive, nobody holds a lock on it (each backup holds an flock on its own temporary for its
 * whole life, so a pid reused since is no risk), it is a regular file of this user (any for
 * root), and it holds what a backup writes there (nothing yet, or SQLite's header for that kind
 * of file). A live backup's temporaries are never touched. A restore does the same with the
 * stampede.db.restore-PID files in the data directory, under the data directory's lock.
 *
 * A restore takes the data directory's lock (server/base/datadir.h), so it refuses while a server
 * runs on that directory; checks the file as above; copies it in beside the database; moves
 * the current database (and its -wal) aside as stampede.db.before-restore-YYYYMMDDTHHMMSSZ,
 * and renames the copy into place. An older schema is migrated by the next `stampede serve`.
 *
 * Threads: any thread, one call at a time per file. Failures return a negative SP_E* code with
 * the reason in err; nothing is left half-done under the target's name.
 */
#ifndef SP_BACKUP_H
#define SP_BACKUP_H

#include <stddef.h>
#include <stdint.h>

typedef struct sp_backup_info {
    int schema_version;
    int64_t tests; /* tests, deleted ones included */
    int64_t runs;  /* runs, of every status */
    int64_t bytes; /* the backup file's size */
    int stale;     /* temporaries of killed backups (or restores) removed on the way */
} sp_backup_info;

/* Copies the database db_path to out_file, which must not exist (SP_ESTATE otherwise); removes
 * the temporaries that killed backups left in out_file's directory first (info->stale). */
int sp_backup_create(const char *db_path, const char *out_file, sp_backup_info *info, char *err,
                     size_t errlen);

/* Checks that file is a sound Stampede database this binary can open; fills info. */
int sp_backup_check(const char *file, sp_backup_info *info, char *err, size_t errlen);

/* Replaces data_dir's database with file (see the top of this file). *aside gets a malloc'd
 * path of the previous database, or NULL when there was none. */
int sp_backup_restore(const char *data_dir, const char *file, char **aside, sp_backup_info *info,
                      char *err, size_t errlen);

#endif
