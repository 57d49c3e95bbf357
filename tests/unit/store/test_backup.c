/*
 * test_backup.c - `stampede backup` and `restore` (server/store/backup.c) on real files: a
 * database made with the store API is backed up while a writer holds a transaction open, the
 * copy is checked, an existing target is refused, a restore moves the old database aside, and
 * a restore is refused under a held data-dir lock or for a file that is not a Stampede database.
 * The temporaries a killed backup leaves (NAME.tmp-PID and its -journal) are removed by the next
 * backup, and nothing else: not a live backup's (its pid lives, or it holds the lock), not a file
 * that is not what a backup writes.
 */
#define _XOPEN_SOURCE 700
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "check.h"
#include "base/datadir.h"
#include "engine/common.h"
#include "store/backup.h"
#include "store/store.h"

static char tmpdir[256];

/* tmpdir/name, made as a directory when dir is set. */
static const char *path_in(const char *name, int dir)
{
    static char paths[8][512];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, 512, "%s/%s", tmpdir, name);
    if (dir)
        mkdir(p, 0700);
    return p;
}

static const char *db_in(const char *dir)
{
    static char p[600];
    snprintf(p, sizeof p, "%s/%s", dir, SP_DATADIR_DB_FILE);
    return p;
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* One value from a database file, read with a connection of its own (-1 on failure). */
static int64_t query_int(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int64_t v = -1;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static void query_text(const char *path, const char *sql, char *out, size_t outlen)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    snprintf(out, outlen, "(failed)");
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        snprintf(out, outlen, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* A data directory whose database holds the given tests, the first with one run of 5 seconds
 * over 2 request names. */
static int make_datadir(const char *dir, const char *const *tests, size_t ntests)
{
    char err[256] = "";
    sp_store *s = NULL;
    int rc = sp_store_open(&s, db_in(dir), err, sizeof err);
    for (size_t i = 0; rc == 0 && i < ntests; i++) {
        int64_t id = 0, run = 0;
        rc = sp_store_test_create(s, tests[i], "{\"name\":\"x\"}", "tester", &id, err, sizeof err);
        if (rc || i > 0)
            continue;
        const char *names[] = {"GET /a", "GET /b"};
        rc = sp_store_run_create(s, id, 0, "tester", NULL, &run, NULL, err, sizeof err);
        if (!rc)
            rc = sp_store_run_names_set(s, run, names, 2);
        for (int64_t sec = 0; rc == 0 && sec < 5; sec++) {
            sp_store_second rows[2] = {{.name_id = 0, .count = 10}, {.name_id = 1, .count = 20}};
            sp_store_tick tick = {.active_vus = 3};
            rc = sp_store_run_second_add(s, run, sec, &tick, rows, 2);
        }
    }
    if (rc)
        fprintf(stderr, "  make_datadir %s: %s (%d)\n", dir, err, rc);
    sp_store_close(s);
    return rc;
}

static void test_backup_is_a_checked_snapshot(void)
{
    const char *dir = path_in("data", 1);
    const char *names[] = {"checkout", "browse"};
    CHECK_INT_EQ(make_datadir(dir, names, 2), 0);

    /* A writer in the middle of a transaction: the backup is the database as committed. */
    sqlite3 *w = NULL;
    CHECK_INT_EQ(sqlite3_open(db_in(dir), &w), SQLITE_OK);
    CHECK_INT_EQ(sqlite3_exec(w,
                              "BEGIN IMMEDIATE; INSERT INTO tests (name, created_at, updated_at,"
                              " head_revision) VALUES ('uncommitted', 0, 0, 1)",
                              NULL, NULL, NULL),
                 SQLITE_OK);
    const char *out = path_in("one.backup", 0);
    sp_backup_info info;
    char err[512] = "";
    int rc = sp_backup_create(db_in(dir), out, &info, err, sizeof err);
    sqlite3_exec(w, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(w);
    CHECK_INT_EQ(rc, 0);
    size_t known;
    sp_store_migrations(&known);
    CHECK_INT_EQ(info.schema_version, known);
    CHECK_INT_EQ(info.tests, 2);
    CHECK_INT_EQ(info.runs, 1);

    /* One self-contained file, private, sound, with every row of the source. */
    struct stat st;
    CHECK_INT_EQ(stat(out, &st), 0);
    CHECK_INT_EQ(info.bytes, st.st_size);
    CHECK_INT_EQ(st.st_mode & 0777, 0600);
    char side[600], text[64];
    snprintf(side, sizeof side, "%s-wal", out);
    CHECK(!exists(side));
    query_text(out, "PRAGMA integrity_check", text, sizeof text);
    CHECK_STR_EQ(text, "ok");
    query_text(out, "PRAGMA journal_mode", text, sizeof text);
    CHECK_STR_EQ(text, "delete");
    CHECK_INT_EQ(query_int(out, "PRAGMA application_id"), SP_STORE_APPLICATION_ID);
    CHECK_INT_EQ(query_int(out, "SELECT count(*) FROM tests"), 2);
    CHECK_INT_EQ(query_int(out, "SELECT count(*) FROM run_seconds"), 10);
    CHECK_INT_EQ(query_int(out, "SELECT count(*) FROM run_ticks"), 5);
    CHECK_INT_EQ(query_int(out, "SELECT count(*) FROM tests WHERE name = 'uncommitted'"), 0);
    CHECK_INT_EQ(sp_backup_check(out, &info, err, sizeof err), 0);
    CHECK_INT_EQ(info.tests, 2);
    CHECK_INT_EQ(info.bytes, st.st_size);

    /* An existing target is refused and left as it was, with no temporary file behind. */
    CHECK_INT_EQ(sp_backup_create(db_in(dir), out, &info, err, sizeof err), SP_ESTATE);
    CHECK_STR_CONTAINS(err, "already exists");
    struct stat again;
    CHECK_INT_EQ(stat(out, &again), 0);
    CHECK_INT_EQ(again.st_size, st.st_size);
    CHECK_INT_EQ(again.st_mtime, st.st_mtime);
    snprintf(side, sizeof side, "%s.tmp-%ld", out, (long)getpid());
    CHECK(!exists(side));

    /* No database to back up. */
    CHECK_INT_EQ(sp_backup_create(path_in("nothing.db", 0), path_in("two.backup", 0), &info, err,
                                  sizeof err),
                 SP_ENOTFOUND);
    CHECK(!exists(path_in("two.backup", 0)));
}

static void test_restore_moves_the_old_database_aside(void)
{
    const char *backup = path_in("one.backup", 0);
    CHECK(exists(backup)); /* from the test before */
    const char *dir = path_in("other", 1);
    const char *names[] = {"somebody else's"};
    CHECK_INT_EQ(make_datadir(dir, names, 1), 0);

    char *aside = NULL;
    sp_backup_info info;
    char err[512] = "";
    CHECK_INT_EQ(sp_backup_restore(dir, backup, &aside, &info, err, sizeof err), 0);
    CHECK(aside != NULL);
    if (!aside)
        return;
    CHECK_STR_CONTAINS(aside, "stampede.db.before-restore-");
    CHECK_INT_EQ(info.tests, 2);
    CHECK_INT_EQ(info.runs, 1);
    /* The old database, with its tests, is beside the restored one. */
    CHECK_INT_EQ(query_int(aside, "SELECT count(*) FROM tests WHERE name = 'somebody else''s'"), 1);
    char wal[600];
    snprintf(wal, sizeof wal, "%s-wal", db_in(dir));
    CHECK(!exists(wal));

    /* The restored database opens with the store and holds the backup's data. */
    sp_store *s = NULL;
    CHECK_INT_EQ(sp_store_open(&s, db_in(dir), err, sizeof err), 0);
    int64_t id = 0;
    CHECK_INT_EQ(sp_store_test_find(s, "checkout", &id), 0);
    CHECK_INT_EQ(sp_store_test_find(s, "somebody else's", &id), SP_ENOTFOUND);
    json_t *runs = NULL;
    sp_store_run_filter f;
    sp_store_run_filter_init(&f);
    CHECK_INT_EQ(sp_store_run_list(s, &f, &runs), 0);
    CHECK_INT_EQ(json_integer_value(json_object_get(runs, "total")), 1);
    json_decref(runs);
    CHECK_INT_EQ(sp_store_integrity_check(s, err, sizeof err), 0);
    sp_store_close(s);
    free(aside);

    /* Into an empty data directory: nothing to move aside. */
    const char *empty = path_in("empty", 1);
    aside = (char *)1;
    CHECK_INT_EQ(sp_backup_restore(empty, backup, &aside, &info, err, sizeof err), 0);
    CHECK(aside == NULL);
    CHECK_INT_EQ(query_int(db_in(empty), "SELECT count(*) FROM tests"), 2);

    /* A data directory that does not exist. */
    CHECK_INT_EQ(sp_backup_restore(path_in("missing", 0), backup, &aside, &info, err, sizeof err),
                 SP_ENOTFOUND);
}

static void test_restore_refused_under_the_lock(void)
{
    const char *backup = path_in("one.backup", 0);
    const char *dir = path_in("locked", 1);
    const char *names[] = {"running here"};
    CHECK_INT_EQ(make_datadir(dir, names, 1), 0);
    int fd = -1;
    char err[512] = "";
    CHECK_INT_EQ(sp_datadir_lock(dir, "serve", &fd, err, sizeof err), 0);

    char *aside = NULL;
    sp_backup_info info;
    int rc = sp_backup_restore(dir, backup, &aside, &info, err, sizeof err);
    sp_datadir_unlock(fd);
    CHECK_INT_EQ(rc, SP_ESTATE);
    CHECK(aside == NULL);
    CHECK_STR_CONTAINS(err, "in use by another stampede");
    CHECK_STR_CONTAINS(err, "stop it before restoring");
    /* Nothing changed. */
    CHECK_INT_EQ(query_int(db_in(dir), "SELECT count(*) FROM tests WHERE name = 'running here'"),
                 1);
    /* Once the lock is free, the same restore goes through. */
    CHECK_INT_EQ(sp_backup_restore(dir, backup, &aside, &info, err, sizeof err), 0);
    CHECK_INT_EQ(query_int(db_in(dir), "SELECT count(*) FROM tests"), 2);
    free(aside);
}

/* A file at path with the given bytes. */
static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void test_not_a_stampede_database_refused(void)
{
    const char *dir = path_in("victim", 1);
    const char *names[] = {"keep me"};
    CHECK_INT_EQ(make_datadir(dir, names, 1), 0);
    sp_backup_info info;
    char err[512] = "";
    char *aside = NULL;

    /* Not SQLite at all. */
    const char *text = path_in("notes.txt", 0);
    write_file(text, "these are not the tables you are looking for\n");
    CHECK_INT_EQ(sp_backup_check(text, &info, err, sizeof err), SP_EIO);
    CHECK_STR_CONTAINS(err, "file is not a database");
    CHECK_INT_EQ(sp_backup_restore(dir, text, &aside, &info, err, sizeof err), SP_EIO);

    /* SQLite, but another program's. */
    const char *foreign = path_in("foreign.db", 0);
    sqlite3 *db = NULL;
    CHECK_INT_EQ(sqlite3_open(foreign, &db), SQLITE_OK);
    CHECK_INT_EQ(
        sqlite3_exec(db, "CREATE TABLE tests (x); INSERT INTO tests VALUES (1)", NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    CHECK_INT_EQ(sp_backup_check(foreign, &info, err, sizeof err), SP_EINVAL);
    CHECK_STR_CONTAINS(err, "is not a stampede database");
    CHECK_INT_EQ(sp_backup_restore(dir, foreign, &aside, &info, err, sizeof err), SP_EINVAL);

    /* Ours, from a newer stampede. */
    const char *newer = path_in("newer.backup", 0);
    CHECK_INT_EQ(sp_backup_create(db_in(dir), newer, &info, err, sizeof err), 0);
    CHECK_INT_EQ(sqlite3_open(newer, &db), SQLITE_OK);
    CHECK_INT_EQ(sqlite3_exec(db,
                              "INSERT INTO schema_version (version, name, applied_at)"
                              " VALUES (9999, '9999_future', 0)",
                              NULL, NULL, NULL),
                 SQLITE_OK);
    sqlite3_close(db);
    CHECK_INT_EQ(sp_backup_check(newer, &info, err, sizeof err), SP_ESTATE);
    CHECK_STR_CONTAINS(err, "newer than this stampede");
    CHECK_INT_EQ(sp_backup_restore(dir, newer, &aside, &info, err, sizeof err), SP_ESTATE);

    /* No such file. */
    CHECK_INT_EQ(sp_backup_check(path_in("nowhere.backup", 0), &info, err, sizeof err),
                 SP_ENOTFOUND);

    /* Every refusal left the data directory as it was: its own database, nothing aside. */
    CHECK(aside == NULL);
    CHECK_INT_EQ(query_int(db_in(dir), "SELECT count(*) FROM tests WHERE name = 'keep me'"), 1);
    char pattern[600];
    snprintf(pattern, sizeof pattern, "%s.restore-%ld", db_in(dir), (long)getpid());
    CHECK(!exists(pattern));
}

/* dir/name holding len bytes of data (a file named like a temporary). */
static void put_file(const char *dir, const char *name, const void *data, size_t len)
{
    char p[700];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd >= 0) {
        if (len && write(fd, data, len) != (ssize_t)len)
            fprintf(stderr, "  short write to %s\n", p);
        close(fd);
    }
}

static int exists_in(const char *dir, const char *name)
{
    char p[700];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    struct stat st;
    return lstat(p, &st) == 0;
}

/* A process id that was alive a moment ago and is not now (a child, reaped). */
static long dead_pid(void)
{
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    waitpid(pid, NULL, 0);
    return (long)pid;
}

static void test_stale_temporaries_swept(void)
{
    const char *dir = path_in("swept", 1);
    const char *out = path_in("swept-out", 1);
    static const char *const tests[] = {"kept"};
    CHECK_INT_EQ(make_datadir(dir, tests, 1), 0);
    static const char db_head[100] = "SQLite format 3";
    static const unsigned char journal_head[28] = {0xd9, 0xd5, 0x05, 0xf9, 0x20, 0xa1, 0x63, 0xd7};
    long dead = dead_pid(), dead2 = dead_pid();
    /* A live process that is not a backup, and one that holds a temporary's lock as a backup
     * does (its pid in the name is a dead one's: the lock alone must keep it). */
    pid_t live = fork();
    if (live == 0) {
        pause();
        _exit(0);
    }
    char name[20][128];
    snprintf(name[0], 128, "old.db.tmp-%ld", dead);
    snprintf(name[1], 128, "old.db.tmp-%ld-journal", dead);
    snprintf(name[2], 128, "empty.db.tmp-%ld", dead);
    snprintf(name[3], 128, "orphan.db.tmp-%ld-journal", dead2);
    snprintf(name[4], 128, "live.db.tmp-%ld", (long)live);
    snprintf(name[5], 128, "live.db.tmp-%ld-journal", (long)live);
    snprintf(name[6], 128, "locked.db.tmp-%ld", dead2);
    snprintf(name[7], 128, "locked.db.tmp-%ld-journal", dead2);
    snprintf(name[8], 128, "notes.txt.tmp-%ld", dead);
    snprintf(name[9], 128, "link.db.tmp-%ld", dead);
    snprintf(name[10], 128, "odd.db.tmp-%ld-x", dead);
    snprintf(name[11], 128, "zeros.db.tmp-%ld", dead2);
    snprintf(name[12], 128, "unsynced.db.tmp-%ld-journal", dead2);
    put_file(out, name[0], db_head, sizeof db_head);
    put_file(out, name[1], journal_head, sizeof journal_head);
    put_file(out, name[2], "", 0);
    put_file(out, name[3], journal_head, sizeof journal_head);
    put_file(out, name[4], db_head, sizeof db_head);
    put_file(out, name[5], journal_head, sizeof journal_head);
    put_file(out, name[6], db_head, sizeof db_head);
    put_file(out, name[7], journal_head, sizeof journal_head);
    put_file(out, name[8], "not a database, somebody's notes", 32);
    char target[700], link_path[700];
    snprintf(target, sizeof target, "%s/%s", out, name[8]);
    snprintf(link_path, sizeof link_path, "%s/%s", out, name[9]);
    CHECK_INT_EQ(symlink(target, link_path), 0);
    put_file(out, name[10], db_head, sizeof db_head);
    static const char zeros[4096];
    put_file(out, name[11], zeros, sizeof zeros); /* pages not written yet */
    /* A journal header whose magic SQLite had not filled in yet (it does once it has synced). */
    static const unsigned char unsynced[28] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xb5, 0x23};
    put_file(out, name[12], unsynced, sizeof unsynced);
    int pipefd[2];
    CHECK_INT_EQ(pipe(pipefd), 0);
    pid_t holder = fork();
    if (holder == 0) {
        char p[700];
        snprintf(p, sizeof p, "%s/%s", out, name[6]);
        int fd = open(p, O_RDONLY);
        char ok = fd >= 0 && flock(fd, LOCK_EX) == 0 ? 'y' : 'n';
        if (write(pipefd[1], &ok, 1) != 1)
            _exit(1);
        pause();
        _exit(0);
    }
    char ok = 0;
    CHECK_INT_EQ(read(pipefd[0], &ok, 1), 1);
    CHECK_INT_EQ(ok, 'y');
    close(pipefd[0]);
    close(pipefd[1]);

    char err[512] = "";
    sp_backup_info info;
    char dst[700];
    snprintf(dst, sizeof dst, "%s/new.db", out);
    int rc = sp_backup_create(db_in(dir), dst, &info, err, sizeof err);
    kill(live, SIGKILL);
    kill(holder, SIGKILL);
    waitpid(live, NULL, 0);
    waitpid(holder, NULL, 0);
    CHECK_INT_EQ(rc, 0);
    CHECK_INT_EQ(info.stale, 6);
    /* A killed backup's database and journal, an empty one, orphan journals, zeros: gone. */
    CHECK(!exists_in(out, name[0]));
    CHECK(!exists_in(out, name[1]));
    CHECK(!exists_in(out, name[2]));
    CHECK(!exists_in(out, name[3]));
    CHECK(!exists_in(out, name[11]));
    CHECK(!exists_in(out, name[12]));
    /* A live pid's, a locked one's (and its journal, which goes with it), a file that is not a
     * database, a symbolic link, a name that only looks alike: kept. */
    for (int i = 4; i <= 10; i++)
        CHECK(exists_in(out, name[i]));
    CHECK(exists_in(out, "new.db"));
    /* The new backup left no temporary of its own. */
    char mine[128];
    snprintf(mine, sizeof mine, "new.db.tmp-%ld", (long)getpid());
    CHECK(!exists_in(out, mine));

    /* The lock is gone with its holder: the next backup takes that one too. */
    snprintf(dst, sizeof dst, "%s/next.db", out);
    CHECK_INT_EQ(sp_backup_create(db_in(dir), dst, &info, err, sizeof err), 0);
    CHECK_INT_EQ(info.stale, 4); /* the killed holder's database and journal, the live one's */
    CHECK(!exists_in(out, name[6]));
    CHECK(!exists_in(out, name[7]));
    CHECK(!exists_in(out, name[4]));
    CHECK(exists_in(out, name[8]));

    /* A restore removes what a killed restore left in the data directory. */
    char left[128];
    snprintf(left, sizeof left, "%s.restore-%ld", SP_DATADIR_DB_FILE, dead);
    put_file(dir, left, db_head, sizeof db_head);
    char *aside = NULL;
    CHECK_INT_EQ(sp_backup_restore(dir, dst, &aside, &info, err, sizeof err), 0);
    CHECK_INT_EQ(info.stale, 1);
    CHECK(!exists_in(dir, left));
    free(aside);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    SP_UNUSED(st);
    SP_UNUSED(flag);
    SP_UNUSED(ftw);
    return remove(path);
}

int main(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/stampede-backup-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_backup_is_a_checked_snapshot);
    RUN(test_restore_moves_the_old_database_aside);
    RUN(test_restore_refused_under_the_lock);
    RUN(test_not_a_stampede_database_refused);
    RUN(test_stale_temporaries_swept);
    nftw(tmpdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return check_summary();
}
