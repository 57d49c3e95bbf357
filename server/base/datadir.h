/*
 * datadir.h - the data directory's lock: one `stampede serve` per data directory, and no
 * `stampede restore` under a running server.
 *
 * The lock is an flock() on DIR/stampede.lock, held for the life of the process that took it
 * (the kernel drops it when the process dies, so a crash leaves no stale lock behind). The file
 * holds the holder's pid, for the message the next taker gets. `stampede backup` takes no
 * lock: it reads through SQLite, which is safe beside a running server.
 *
 * Threads: any; the descriptor belongs to the caller.
 */
#ifndef SP_DATADIR_H
#define SP_DATADIR_H

#include <stddef.h>

#define SP_DATADIR_DB_FILE "stampede.db"
#define SP_DATADIR_LOCK_FILE "stampede.lock"

/*
 * Takes the lock of dir (which must exist) without waiting. Returns 0 and the descriptor in
 * *fd (give it to sp_datadir_unlock()); SP_ESTATE when another process holds it (err names
 * its pid and what), SP_ESYS when the lock file cannot be opened (err says why). `what` names
 * the taker for the holder's record ("serve", "restore").
 */
int sp_datadir_lock(const char *dir, const char *what, int *fd, char *err, size_t errlen);
/* When running as root, gives the file open as fd to the owner of dir (a file root makes in
 * a data directory must stay usable by the server's own user). Otherwise does nothing. */
void sp_datadir_chown(const char *dir, int fd);
/* Releases the lock (closes fd). -1 is ignored. */
void sp_datadir_unlock(int fd);

#endif
