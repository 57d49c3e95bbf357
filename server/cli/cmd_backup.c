/*
 * cmd_backup.c - the `stampede backup` and `stampede restore` commands over store/backup.h.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/common.h"
#include "cli/cli.h"
#include "cli/config.h"
#include "base/datadir.h"
#include "store/backup.h"

/* ---- Commands ---- */

/* The data directory from --data-dir, else from --config FILE's data_dir, else the default;
 * the one positional argument in *file. Returns 0, 1 for --help, 2 for a bad command line. */
static int parse_args(const char *cmd, int argc, char **argv, char **data_dir, const char **file,
                      const char *usage)
{
    const char *dir = NULL, *config = NULL;
    *file = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage, stdout);
            return 1;
        }
        const char **opt = strcmp(a, "--data-dir") == 0 ? &dir
                           : strcmp(a, "--config") == 0 ? &config
                                                        : NULL;
        if (opt) {
            if (i + 1 >= argc) {
                fprintf(stderr, "stampede %s: option '%s' needs a value\n", cmd, a);
                return 2;
            }
            *opt = argv[++i];
        } else if (strncmp(a, "--data-dir=", 11) == 0) {
            dir = a + 11;
        } else if (strncmp(a, "--config=", 9) == 0) {
            config = a + 9;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "stampede %s: unknown option '%s'\n%s", cmd, a, usage);
            return 2;
        } else if (*file) {
            fprintf(stderr, "stampede %s: unexpected argument '%s' (one FILE only)\n", cmd, a);
            return 2;
        } else {
            *file = a;
        }
    }
    if (!*file) {
        fprintf(stderr, "stampede %s: FILE is missing\n%s", cmd, usage);
        return 2;
    }
    if (dir) {
        *data_dir = sp_strdup(dir);
        return 0;
    }
    /* The same file `stampede serve --config` reads, checked the same way. */
    sp_config cfg;
    sp_config_init(&cfg);
    char err[1024] = "";
    char *cargv[] = {"serve", "--config", (char *)config, NULL};
    if (config && sp_config_parse(&cfg, 3, cargv, err, sizeof err) != 0) {
        fprintf(stderr, "stampede %s: %s\n", cmd, err);
        sp_config_release(&cfg);
        return 2;
    }
    *data_dir = sp_strdup(cfg.data_dir);
    sp_config_release(&cfg);
    return 0;
}

static const char backup_usage[] =
    "usage: stampede backup [--data-dir DIR | --config FILE] BACKUP-FILE\n"
    "\n"
    "Copies the database of DIR (default ./var, or data_dir of the config file) to BACKUP-FILE,\n"
    "which must not exist. Safe while `stampede serve` runs: the copy is one consistent\n"
    "snapshot. The copy is checked before it is kept. Temporary files that killed backups left\n"
    "beside BACKUP-FILE (NAME.tmp-PID, NAME.tmp-PID-journal) are removed first; those of\n"
    "backups still running are left alone. Exit 0 done, 1 failed, 2 bad usage.\n";

static const char restore_usage[] =
    "usage: stampede restore [--data-dir DIR | --config FILE] BACKUP-FILE\n"
    "\n"
    "Replaces the database of DIR with BACKUP-FILE after checking it (integrity, a stampede\n"
    "database, a schema version this stampede knows). Refused while a server runs on DIR.\n"
    "The previous database is kept as stampede.db.before-restore-TIME in DIR.\n"
    "Exit 0 done, 1 failed, 2 bad usage.\n";

int sp_cmd_backup(int argc, char **argv)
{
    char *dir = NULL;
    const char *file;
    int rc = parse_args("backup", argc, argv, &dir, &file, backup_usage);
    if (rc)
        return rc == 1 ? 0 : rc;
    char db[PATH_MAX], err[1024] = "";
    sp_backup_info info;
    if ((size_t)snprintf(db, sizeof db, "%s/%s", dir, SP_DATADIR_DB_FILE) >= sizeof db) {
        fprintf(stderr, "stampede backup: data directory path too long\n");
        free(dir);
        return 2;
    }
    rc = sp_backup_create(db, file, &info, err, sizeof err);
    if (info.stale)
        fprintf(stderr,
                "stampede backup: removed %d temporary file%s left by killed backups beside %s\n",
                info.stale, info.stale == 1 ? "" : "s", file);
    if (rc) {
        fprintf(stderr, "stampede backup: %s\n", err);
    } else {
        printf("backed up %s to %s: schema version %d, %lld tests, %lld runs, %lld bytes\n", db,
               file, info.schema_version, (long long)info.tests, (long long)info.runs,
               (long long)info.bytes);
    }
    free(dir);
    return rc ? 1 : 0;
}

int sp_cmd_restore(int argc, char **argv)
{
    char *dir = NULL, *aside = NULL;
    const char *file;
    int rc = parse_args("restore", argc, argv, &dir, &file, restore_usage);
    if (rc)
        return rc == 1 ? 0 : rc;
    char err[1024] = "";
    sp_backup_info info;
    rc = sp_backup_restore(dir, file, &aside, &info, err, sizeof err);
    if (info.stale)
        fprintf(stderr,
                "stampede restore: removed %d temporary file%s left by killed restores in %s\n",
                info.stale, info.stale == 1 ? "" : "s", dir);
    if (rc) {
        fprintf(stderr, "stampede restore: %s\n", err);
    } else {
        printf("restored %s into %s/%s: schema version %d, %lld tests, %lld runs\n", file, dir,
               SP_DATADIR_DB_FILE, info.schema_version, (long long)info.tests,
               (long long)info.runs);
        if (aside)
            printf("the previous database is at %s\n", aside);
    }
    free(aside);
    free(dir);
    return rc ? 1 : 0;
}
