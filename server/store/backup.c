/*
 * backup.c - see backup.h. The `stampede backup` and `restore` commands are in cli/cmd_backup.c.
 */
#include "store/backup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "engine/common.h"
#include "base/datadir.h"
#include "base/errors.h"
#include "store/sql.h"
#include "store/store.h"

/* ---- Checks ---- */

/* The checks a backup passes before it is kept, and a file before it is restored. */
static int check_db(sqlite3 *db, const char *name, sp_backup_info *info, char *err, size_t errlen)
{
    char res[512];
    if (sp_sql_exec_text(db, "PRAGMA integrity_check", res, sizeof res) != SQLITE_OK) {
        snprintf(err, errlen, "%s: cannot be read as a database: %s", name, sqlite3_errmsg(db));
        return SP_EIO;
    }
    if (strcmp(res, "ok") != 0) {
        snprintf(err, errlen, "%s: integrity_check failed: %.300s", name, *res ? res : "no result");
        return SP_EIO;
    }
    int64_t app = 0, version = 0;
    if (sp_sql_exec_int(db, "PRAGMA application_id", &app) != SQLITE_OK ||
        app != SP_STORE_APPLICATION_ID) {
        snprintf(err, errlen, "%s is not a stampede database (application_id %lld)", name,
                 (long long)app);
        return SP_EINVAL;
    }
    size_t known;
    sp_store_migrations(&known);
    if (sp_sql_exec_int(db, "SELECT coalesce(max(version), 0) FROM schema_version", &version) !=
            SQLITE_OK ||
        version < 1) {
        snprintf(err, errlen, "%s has no schema version: not a stampede database", name);
        return SP_EINVAL;
    }
    if (version > (int64_t)known) {
        snprintf(err, errlen,
                 "%s has schema version %lld, newer than this stampede (knows %zu): use a newer "
                 "stampede",
                 name, (long long)version, known);
        return SP_ESTATE;
    }
    info->schema_version = (int)version;
    if (sp_sql_exec_int(db, "SELECT count(*) FROM tests", &info->tests) != SQLITE_OK ||
        sp_sql_exec_int(db, "SELECT count(*) FROM runs", &info->runs) != SQLITE_OK) {
        snprintf(err, errlen, "%s: cannot count tests and runs: %s", name, sqlite3_errmsg(db));
        return SP_EIO;
    }
    return 0;
}

/* A connection made by the SQL kit (defensive, no trusted schema: the file may come from
 * anywhere, a restore, and nothing in it may run code or write). */
static int open_db(const char *path, int flags, sqlite3 **db, char *err, size_t errlen)
{
    char why[256] = "";
    if (sp_sql_connect(db, path, flags, why, sizeof why) != 0) {
        snprintf(err, errlen, "cannot open %s: %s", path, why);
        return SP_EIO;
    }
    return 0;
}

/*
 * Copies src (a path, opened read-only) into dst_path, which is created; in one backup step,
 * that is one read transaction, so the copy is a snapshot. The copy is switched to a rollback
 * journal so that it is a single self-contained file, then checked and synced.
 */
static int copy_db(const char *src_path, const char *dst_path, sp_backup_info *info, char *err,
                   size_t errlen)
{
    sqlite3 *src = NULL, *dst = NULL;
    int ret = open_db(src_path, SQLITE_OPEN_READONLY, &src, err, errlen);
    if (ret)
        goto out;
    ret = open_db(dst_path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, &dst, err, errlen);
    if (ret)
        goto out;
    sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
    if (!b) {
        snprintf(err, errlen, "cannot start the backup: %s", sqlite3_errmsg(dst));
        ret = SP_EIO;
        goto out;
    }
    int rc;
    /* A writer's lock is waited for by the busy handler; SQLITE_BUSY/LOCKED returned here
     * means it waited SP_STORE_BUSY_TIMEOUT_MS, so the loop only retries a few times. */
    for (int tries = 0;; tries++) {
        rc = sqlite3_backup_step(b, -1);
        if (rc == SQLITE_DONE || sp_sql_code(rc) != SP_EUNAVAILABLE || tries >= 3)
            break;
        sqlite3_sleep(100);
    }
    sqlite3_backup_finish(b);
    if (rc != SQLITE_DONE) {
        snprintf(err, errlen, "backup of %s failed: %s", src_path, sqlite3_errstr(rc));
        ret = SP_EIO;
        goto out;
    }
    char mode[32];
    if (sp_sql_exec_text(dst, "PRAGMA journal_mode = DELETE", mode, sizeof mode) != SQLITE_OK) {
        snprintf(err, errlen, "cannot finish %s: %s", dst_path, sqlite3_errmsg(dst));
        ret = SP_EIO;
        goto out;
    }
    ret = check_db(dst, src_path, info, err, errlen);
out:
    sqlite3_close(src);
    if (dst && sqlite3_close(dst) != SQLITE_OK && !ret) {
        snprintf(err, errlen, "cannot close %s", dst_path);
        ret = SP_EIO;
    }
    return ret;
}

/* fsync of a file or a directory by path: a rename is durable once the directory is synced. */
static int sync_path(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0) {
        snprintf(err, errlen, "cannot sync %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return SP_ESYS;
    }
    close(fd);
    return 0;
}

static void dir_of(const char *path, char *dir, size_t n)
{
    snprintf(dir, n, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, n, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
}

static int file_size(const char *path, int64_t *size)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return SP_ESYS;
    *size = (int64_t)st.st_size;
    return 0;
}

/* ---- Temporaries of killed backups ---- */

/* What SQLite puts beside a database while it writes one, as a temporary's name may end. */
static const char *const sidecars[] = {"-journal", "-wal", "-shm"};

/*
 * Whether name is a temporary of ours: PREFIX MARKER PID [SIDECAR], PREFIX not empty, PID
 * digits. Sets *pid and *sidecar (the index in sidecars[], -1 for the database itself) and
 * *base_len (the length of the name without its sidecar).
 */
static int temp_name(const char *name, const char *marker, long *pid, int *sidecar,
                     size_t *base_len)
{
    size_t ml = strlen(marker), n = strlen(name);
    for (size_t at = n; at-- > 1;) {
        if (strncmp(name + at, marker, ml) != 0)
            continue;
        const char *p = name + at + ml, *digits = p;
        long v = 0;
        while (*p >= '0' && *p <= '9' && v < 100000000)
            v = v * 10 + (*p++ - '0');
        if (p == digits || (*p >= '0' && *p <= '9'))
            return 0;
        *sidecar = -1;
        for (int i = 0; *p && i < (int)SP_ARRAY_LEN(sidecars); i++)
            if (strcmp(p, sidecars[i]) == 0)
                *sidecar = i;
        if (*p && *sidecar < 0)
            return 0;
        *pid = v;
        *base_len = (size_t)(p - name);
        return 1;
    }
    return 0;
}

static int pid_alive(long pid)
{
    /* EPERM: it exists, as somebody else's. */
    return pid <= 0 || pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

/* Whether the first bytes of fd are what a backup leaves in that kind of file: nothing yet,
 * pages not written yet (zeros), or SQLite's own header. */
static int looks_ours(int fd, int sidecar)
{
    static const unsigned char db_magic[16] = "SQLite format 3";
    static const unsigned char journal_magic[8] = {0xd9, 0xd5, 0x05, 0xf9, 0x20, 0xa1, 0x63, 0xd7};
    unsigned char h[16];
    ssize_t n = pread(fd, h, sizeof h, 0);
    if (n == 0)
        return 1;
    if (n < 0)
        return 0;
    int zeros = 1;
    for (ssize_t i = 0; i < n; i++)
        zeros &= h[i] == 0;
    if (zeros || sidecar == 2) /* -shm: only an index of the WAL, whatever it holds */
        return 1;
    if (sidecar < 0)
        return n == 16 && memcmp(h, db_magic, 16) == 0;
    /* SQLite writes a journal's header with its magic zeroed and fills it in once the journal
     * is synced, so a killed writer may leave either. */
    static const unsigned char no_magic[8];
    if (sidecar == 0)
        return n >= 8 && (memcmp(h, journal_magic, 8) == 0 || memcmp(h, no_magic, 8) == 0);
    /* -wal: 0x377f0682 or 0x377f0683, big-endian. */
    return n >= 4 && h[0] == 0x37 && h[1] == 0x7f && h[2] == 0x06 && (h[3] & 0xfe) == 0x82;
}

/* Removes dir/name when it is a stale temporary (see backup.h): a regular file of ours that
 * nobody holds a lock on and that looks like one. 1 when removed. */
static int remove_stale(const char *dir, const char *name, int sidecar)
{
    char path[PATH_MAX];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
        return 0;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return 0;
    struct stat st;
    int gone = 0;
    /* A live backup holds an flock on its temporary (the database one: its sidecars go with
     * it, checked by the caller); taking it here proves its holder is gone. */
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (geteuid() == 0 || st.st_uid == geteuid()) &&
        flock(fd, LOCK_EX | LOCK_NB) == 0 && looks_ours(fd, sidecar))
        gone = unlink(path) == 0;
    close(fd);
    return gone;
}

typedef struct stale_file {
    char *name;
    long pid;
    int sidecar;
    size_t base_len;
} stale_file;

/*
 * Removes from dir the temporaries (named NAME MARKER PID [SIDECAR]) of processes that are not
 * alive, databases first, then their sidecars when the database went or was never there.
 * Returns how many files were removed. A directory that cannot be read has none.
 */
static int sweep(const char *dir, const char *marker)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    stale_file *v = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        long pid;
        int sidecar;
        size_t base_len;
        if (!temp_name(e->d_name, marker, &pid, &sidecar, &base_len) || pid_alive(pid))
            continue;
        sp_grow((void **)&v, &cap, n + 1, sizeof *v);
        v[n++] = (stale_file){sp_strdup(e->d_name), pid, sidecar, base_len};
    }
    closedir(d);
    int removed = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < n; i++) {
            if ((pass == 0) != (v[i].sidecar < 0))
                continue;
            if (pass == 1) {
                /* A sidecar whose database stayed belongs with it. */
                char base[PATH_MAX];
                struct stat st;
                if ((size_t)snprintf(base, sizeof base, "%s/%.*s", dir, (int)v[i].base_len,
                                     v[i].name) >= sizeof base ||
                    lstat(base, &st) == 0)
                    continue;
            }
            removed += remove_stale(dir, v[i].name, v[i].sidecar);
        }
    }
    for (size_t i = 0; i < n; i++)
        free(v[i].name);
    free(v);
    return removed;
}

/* ---- API ---- */

int sp_backup_create(const char *db_path, const char *out_file, sp_backup_info *info, char *err,
                     size_t errlen)
{
    memset(info, 0, sizeof *info);
    char tmp[PATH_MAX], dir[PATH_MAX];
    struct stat st;
    if (stat(db_path, &st) != 0) {
        snprintf(err, errlen, "no database at %s: %s", db_path, strerror(errno));
        return SP_ENOTFOUND;
    }
    if (lstat(out_file, &st) == 0) {
        snprintf(err, errlen, "%s already exists: remove it or choose another name", out_file);
        return SP_ESTATE;
    }
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp-%ld", out_file, (long)getpid()) >= sizeof tmp) {
        snprintf(err, errlen, "backup file name too long");
        return SP_EINVAL;
    }
    dir_of(out_file, dir, sizeof dir);
    /* What killed backups left here (of any target) goes first: nothing else ever would. */
    int stale = sweep(dir, ".tmp-");
    /* Created here with mode 0600 (the database may hold credentials), empty: SQLite then
     * writes the copy into it. O_EXCL: never a file somebody else made. */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
        return SP_ESYS;
    }
    /* Held until the temporary is gone, so that another backup's sweep never takes it for a
     * dead one's (even when this pid is reused later, the lock goes with the process). The
     * descriptor stays open while SQLite uses the file and is closed after SQLite's own
     * connection, since closing a descriptor drops the process's POSIX locks on the file. An
     * flock is not one of them. */
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        snprintf(err, errlen, "cannot lock %s: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        return SP_ESYS;
    }
    int ret = copy_db(db_path, tmp, info, err, errlen);
    if (!ret)
        ret = sync_path(tmp, err, errlen);
    /* link() rather than rename(): it fails instead of replacing a file that appeared meanwhile. */
    if (!ret && link(tmp, out_file) != 0) {
        snprintf(err, errlen, "cannot create %s: %s", out_file, strerror(errno));
        ret = SP_ESYS;
    }
    unlink(tmp);
    close(fd);
    if (!ret)
        ret = sync_path(dir, err, errlen);
    if (!ret)
        file_size(out_file, &info->bytes);
    info->stale = stale;
    return ret;
}

int sp_backup_check(const char *file, sp_backup_info *info, char *err, size_t errlen)
{
    memset(info, 0, sizeof *info);
    struct stat st;
    if (stat(file, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: %s", file, errno ? strerror(errno) : "not a regular file");
        return SP_ENOTFOUND;
    }
    sqlite3 *db = NULL;
    int ret = open_db(file, SQLITE_OPEN_READONLY, &db, err, errlen);
    if (!ret)
        ret = check_db(db, file, info, err, errlen);
    sqlite3_close(db);
    info->bytes = (int64_t)st.st_size;
    return ret;
}

int sp_backup_restore(const char *data_dir, const char *file, char **aside, sp_backup_info *info,
                      char *err, size_t errlen)
{
    *aside = NULL;
    memset(info, 0, sizeof *info);
    int lock = -1, ret;
    char db[PATH_MAX], tmp[PATH_MAX], old[PATH_MAX], from[PATH_MAX + 8], to[PATH_MAX + 8];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    if ((size_t)snprintf(db, sizeof db, "%s/%s", data_dir, SP_DATADIR_DB_FILE) >= sizeof db ||
        (size_t)snprintf(tmp, sizeof tmp, "%s.restore-%ld", db, (long)getpid()) >= sizeof tmp ||
        (size_t)snprintf(old, sizeof old, "%s.before-restore-%s", db, stamp) >= sizeof old) {
        snprintf(err, errlen, "data directory path too long");
        return SP_EINVAL;
    }
    struct stat st;
    if (stat(data_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "the data directory %s does not exist", data_dir);
        return SP_ENOTFOUND;
    }
    ret = sp_datadir_lock(data_dir, "restore", &lock, err, errlen);
    if (ret) {
        if (ret == SP_ESTATE && strlen(err) + 40 < errlen)
            snprintf(err + strlen(err), errlen - strlen(err), "; stop it before restoring");
        return ret;
    }
    /* Under the lock no other restore runs: any restore temporary here is a killed one's. */
    int stale = sweep(data_dir, ".restore-");
    ret = sp_backup_check(file, info, err, errlen);
    info->stale = stale;
    if (ret)
        goto out;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
        ret = SP_ESYS;
        goto out;
    }
    /* Restored by root, the database must still be the server's user's. */
    sp_datadir_chown(data_dir, fd);
    close(fd);
    ret = copy_db(file, tmp, info, err, errlen);
    if (!ret)
        ret = sync_path(tmp, err, errlen);
    if (ret) {
        unlink(tmp);
        goto out;
    }
    /* The current database and its WAL move aside together (the WAL may hold its last
     * commits if the server died); the shared-memory index is only a cache of the WAL. */
    if (stat(db, &st) == 0) {
        if (rename(db, old) != 0) {
            snprintf(err, errlen, "cannot move %s aside: %s", db, strerror(errno));
            unlink(tmp);
            ret = SP_ESYS;
            goto out;
        }
        *aside = sp_strdup(old);
        snprintf(from, sizeof from, "%s-wal", db);
        snprintf(to, sizeof to, "%s-wal", old);
        if (stat(from, &st) == 0 && rename(from, to) != 0) {
            snprintf(err, errlen, "cannot move %s aside: %s", from, strerror(errno));
            rename(old, db); /* put it back as it was */
            free(*aside);
            *aside = NULL;
            unlink(tmp);
            ret = SP_ESYS;
            goto out;
        }
        snprintf(from, sizeof from, "%s-shm", db);
        unlink(from);
    }
    if (rename(tmp, db) != 0) {
        snprintf(err, errlen,
                 "cannot move the restored database into place: %s (the previous "
                 "one is at %s)",
                 strerror(errno), *aside ? *aside : "nowhere");
        unlink(tmp);
        ret = SP_ESYS;
        goto out;
    }
    ret = sync_path(data_dir, err, errlen);
    file_size(db, &info->bytes);
out:
    sp_datadir_unlock(lock);
    return ret;
}
