/*
 * fullvfs.h - a full disk on demand, for unit tests: a SQLite VFS that wraps the default one
 * and, while fullvfs_set(1) holds, fails every write of every file with SQLITE_FULL, as
 * SQLite's unix VFS does when write() meets ENOSPC. Reads, syncs and locks go through.
 *
 * fullvfs_install() makes it the default VFS of the process, so every connection opened after
 * it (the store's, the run manager's, the accounts') meets the full disk without knowing. Call
 * it once, before the first connection is opened. The integration tests fill a real tmpfs
 * instead (tests/integration/disk_full.test.mjs); this one needs no root and no timing.
 *
 * Threads: the flag is atomic; the VFS has no other state.
 */
#ifndef SP_TEST_FULLVFS_H
#define SP_TEST_FULLVFS_H

#include <stdatomic.h>
#include <string.h>

#include <sqlite3.h>

static atomic_int fullvfs_full;
static sqlite3_vfs fullvfs_vfs;
static sqlite3_vfs *fullvfs_real;

/* A file of ours, with the real VFS's file right behind it. */
typedef struct fullvfs_file {
    sqlite3_file base;
    sqlite3_file *real;
} fullvfs_file;

static sqlite3_file *fullvfs_r(sqlite3_file *f)
{
    return ((fullvfs_file *)f)->real;
}

static void fullvfs_set(int full)
{
    atomic_store(&fullvfs_full, full);
}

static int fullvfs_close(sqlite3_file *f)
{
    sqlite3_file *r = fullvfs_r(f);
    return r->pMethods ? r->pMethods->xClose(r) : SQLITE_OK;
}
static int fullvfs_read(sqlite3_file *f, void *p, int n, sqlite3_int64 off)
{
    return fullvfs_r(f)->pMethods->xRead(fullvfs_r(f), p, n, off);
}
static int fullvfs_write(sqlite3_file *f, const void *p, int n, sqlite3_int64 off)
{
    if (atomic_load(&fullvfs_full))
        return SQLITE_FULL;
    return fullvfs_r(f)->pMethods->xWrite(fullvfs_r(f), p, n, off);
}
static int fullvfs_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    return fullvfs_r(f)->pMethods->xTruncate(fullvfs_r(f), size);
}
static int fullvfs_sync(sqlite3_file *f, int flags)
{
    return fullvfs_r(f)->pMethods->xSync(fullvfs_r(f), flags);
}
static int fullvfs_size(sqlite3_file *f, sqlite3_int64 *size)
{
    return fullvfs_r(f)->pMethods->xFileSize(fullvfs_r(f), size);
}
static int fullvfs_lock(sqlite3_file *f, int l)
{
    return fullvfs_r(f)->pMethods->xLock(fullvfs_r(f), l);
}
static int fullvfs_unlock(sqlite3_file *f, int l)
{
    return fullvfs_r(f)->pMethods->xUnlock(fullvfs_r(f), l);
}
static int fullvfs_reserved(sqlite3_file *f, int *out)
{
    return fullvfs_r(f)->pMethods->xCheckReservedLock(fullvfs_r(f), out);
}
static int fullvfs_control(sqlite3_file *f, int op, void *arg)
{
    return fullvfs_r(f)->pMethods->xFileControl(fullvfs_r(f), op, arg);
}
static int fullvfs_sector(sqlite3_file *f)
{
    return fullvfs_r(f)->pMethods->xSectorSize(fullvfs_r(f));
}
static int fullvfs_device(sqlite3_file *f)
{
    return fullvfs_r(f)->pMethods->xDeviceCharacteristics(fullvfs_r(f));
}
static int fullvfs_shm_map(sqlite3_file *f, int pg, int pgsz, int extend, void volatile **pp)
{
    return fullvfs_r(f)->pMethods->xShmMap(fullvfs_r(f), pg, pgsz, extend, pp);
}
static int fullvfs_shm_lock(sqlite3_file *f, int off, int n, int flags)
{
    return fullvfs_r(f)->pMethods->xShmLock(fullvfs_r(f), off, n, flags);
}
static void fullvfs_shm_barrier(sqlite3_file *f)
{
    fullvfs_r(f)->pMethods->xShmBarrier(fullvfs_r(f));
}
static int fullvfs_shm_unmap(sqlite3_file *f, int del)
{
    return fullvfs_r(f)->pMethods->xShmUnmap(fullvfs_r(f), del);
}
static int fullvfs_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **pp)
{
    return fullvfs_r(f)->pMethods->xFetch(fullvfs_r(f), off, n, pp);
}
static int fullvfs_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
    return fullvfs_r(f)->pMethods->xUnfetch(fullvfs_r(f), off, p);
}

static const sqlite3_io_methods fullvfs_io = {
    3,
    fullvfs_close,
    fullvfs_read,
    fullvfs_write,
    fullvfs_truncate,
    fullvfs_sync,
    fullvfs_size,
    fullvfs_lock,
    fullvfs_unlock,
    fullvfs_reserved,
    fullvfs_control,
    fullvfs_sector,
    fullvfs_device,
    fullvfs_shm_map,
    fullvfs_shm_lock,
    fullvfs_shm_barrier,
    fullvfs_shm_unmap,
    fullvfs_fetch,
    fullvfs_unfetch,
};

static int fullvfs_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags,
                        int *out_flags)
{
    (void)vfs;
    fullvfs_file *ff = (fullvfs_file *)f;
    ff->real = (sqlite3_file *)&ff[1];
    memset(ff->real, 0, (size_t)fullvfs_real->szOsFile);
    int rc = fullvfs_real->xOpen(fullvfs_real, name, ff->real, flags, out_flags);
    /* A file the real VFS did not open must not be closed through us. */
    f->pMethods = ff->real->pMethods ? &fullvfs_io : NULL;
    return rc;
}
static int fullvfs_delete(sqlite3_vfs *v, const char *name, int sync)
{
    (void)v;
    return fullvfs_real->xDelete(fullvfs_real, name, sync);
}
static int fullvfs_access(sqlite3_vfs *v, const char *name, int flags, int *out)
{
    (void)v;
    return fullvfs_real->xAccess(fullvfs_real, name, flags, out);
}
static int fullvfs_fullname(sqlite3_vfs *v, const char *name, int n, char *out)
{
    (void)v;
    return fullvfs_real->xFullPathname(fullvfs_real, name, n, out);
}
static void *fullvfs_dlopen(sqlite3_vfs *v, const char *name)
{
    (void)v;
    return fullvfs_real->xDlOpen(fullvfs_real, name);
}
static void fullvfs_dlerror(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    fullvfs_real->xDlError(fullvfs_real, n, out);
}
static void (*fullvfs_dlsym(sqlite3_vfs *v, void *h, const char *sym))(void)
{
    (void)v;
    return fullvfs_real->xDlSym(fullvfs_real, h, sym);
}
static void fullvfs_dlclose(sqlite3_vfs *v, void *h)
{
    (void)v;
    fullvfs_real->xDlClose(fullvfs_real, h);
}
static int fullvfs_random(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    return fullvfs_real->xRandomness(fullvfs_real, n, out);
}
static int fullvfs_sleep(sqlite3_vfs *v, int us)
{
    (void)v;
    return fullvfs_real->xSleep(fullvfs_real, us);
}
static int fullvfs_time(sqlite3_vfs *v, double *out)
{
    (void)v;
    return fullvfs_real->xCurrentTime(fullvfs_real, out);
}
static int fullvfs_lasterror(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    return fullvfs_real->xGetLastError(fullvfs_real, n, out);
}
static int fullvfs_time64(sqlite3_vfs *v, sqlite3_int64 *out)
{
    (void)v;
    return fullvfs_real->xCurrentTimeInt64(fullvfs_real, out);
}

/* Makes the full-disk VFS the process's default. 0, or SQLite's code when it cannot. */
static int fullvfs_install(void)
{
    fullvfs_real = sqlite3_vfs_find(NULL);
    if (!fullvfs_real || fullvfs_real->iVersion < 2)
        return SQLITE_ERROR;
    fullvfs_vfs = (sqlite3_vfs){
        .iVersion = 2,
        .szOsFile = (int)sizeof(fullvfs_file) + fullvfs_real->szOsFile,
        .mxPathname = fullvfs_real->mxPathname,
        .zName = "stampede-test-full",
        .xOpen = fullvfs_open,
        .xDelete = fullvfs_delete,
        .xAccess = fullvfs_access,
        .xFullPathname = fullvfs_fullname,
        .xDlOpen = fullvfs_dlopen,
        .xDlError = fullvfs_dlerror,
        .xDlSym = fullvfs_dlsym,
        .xDlClose = fullvfs_dlclose,
        .xRandomness = fullvfs_random,
        .xSleep = fullvfs_sleep,
        .xCurrentTime = fullvfs_time,
        .xGetLastError = fullvfs_lasterror,
        .xCurrentTimeInt64 = fullvfs_time64,
    };
    return sqlite3_vfs_register(&fullvfs_vfs, 1);
}

#endif
