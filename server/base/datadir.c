/*
 * datadir.c - see datadir.h.
 */
#include "base/datadir.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/common.h"

int sp_datadir_lock(const char *dir, const char *what, int *fd, char *err, size_t errlen)
{
    *fd = -1;
    char path[PATH_MAX];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, SP_DATADIR_LOCK_FILE) >= sizeof path) {
        snprintf(err, errlen, "data directory path too long");
        return SP_EINVAL;
    }
    int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (f < 0) {
        snprintf(err, errlen, "cannot open the lock file %s: %s", path, strerror(errno));
        return SP_ESYS;
    }
    /* root (a `stampede restore` by an administrator) must not leave a lock file that the
     * server's own user cannot open: it belongs to the directory's owner. */
    if (geteuid() == 0)
        sp_datadir_chown(dir, f);
    if (flock(f, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        char holder[64] = "";
        ssize_t n = pread(f, holder, sizeof holder - 1, 0);
        holder[n > 0 ? n : 0] = '\0';
        holder[strcspn(holder, "\n")] = '\0';
        close(f);
        if (e == EWOULDBLOCK) {
            snprintf(err, errlen, "the data directory %s is in use by another stampede (%s)", dir,
                     holder[0] ? holder : "pid unknown");
            return SP_ESTATE;
        }
        snprintf(err, errlen, "cannot lock %s: %s", path, strerror(e));
        return SP_ESYS;
    }
    char line[64];
    int len = snprintf(line, sizeof line, "%s pid %ld\n", what, (long)getpid());
    /* Only informative: a failure to record the pid does not matter. */
    if (ftruncate(f, 0) == 0 && pwrite(f, line, (size_t)len, 0) < 0)
        line[0] = '\0';
    *fd = f;
    return 0;
}

void sp_datadir_chown(const char *dir, int fd)
{
    struct stat st;
    if (geteuid() == 0 && stat(dir, &st) == 0 && fchown(fd, st.st_uid, st.st_gid) != 0)
        st.st_uid = 0; /* nothing more to do: the owner's open will say why */
}

void sp_datadir_unlock(int fd)
{
    if (fd >= 0)
        close(fd);
}
