/* Kernels shared between VMs. A VM's kernel is mapped into its guest RAM as a private
 * copy-on-write view of one read-only file per distinct kernel under $CORRAL_HOME/images/,
 * so that every VM booting the same kernel shares, through the page cache, the pages none of
 * them writes (text and read-only data: about 20 MiB of Debian's 31 MiB Image). The file is
 * Corral's own copy, made once and never rewritten: the user may replace their Image while
 * VMs run without changing anything under them. Every use compares the whole copy with the
 * user's file, so a damaged or colliding copy is never booted; it is then simply not shared.
 * A VM holds a shared flock on its copy while it runs; image_share_gc() removes the copies
 * no VM holds, so images/ does not keep every kernel ever booted. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <dirent.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hosted/home.h"
#include "hosted/image_share.h"

/* A 64-bit digest to name the copy; not a security measure (image_share_open compares). */
static uint64_t digest(const uint8_t *p, size_t len)
{
    uint64_t h = 0x243f6a8885a308d3ULL ^ len;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
        h ^= h >> 29;
    }
    for (; i < len; i++)
        h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}

/* Opens PATH if it holds exactly DATA; else -1. */
static int open_same(const char *path, const uint8_t *data, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat st;
    void *m = MAP_FAILED;
    if (!fstat(fd, &st) && S_ISREG(st.st_mode) && (uint64_t)st.st_size == len)
        m = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    bool same = m != MAP_FAILED && memcmp(m, data, len) == 0;
    if (m != MAP_FAILED)
        munmap(m, len);
    if (!same) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Writes DATA into a new file and gives it the name PATH unless a racing VM did first (a VM
 * finds either no file or a whole one). */
static int write_copy(const char *dir, const char *path, const uint8_t *data, size_t len)
{
    char tmp[HOME_PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s/.new-%d", dir, (int)getpid()) >= (int)sizeof(tmp))
        return -ENAMETOOLONG;
    unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
    if (fd < 0)
        return -errno;
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, data + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = n < 0 ? errno : EIO;
            close(fd);
            unlink(tmp);
            return -e;
        }
        done += (size_t)n;
    }
    close(fd);
    /* link, not rename: of VMs racing to make the copy, the first wins and the others use
     * its file (a rename would put a new file under VMs already mapping the old one) */
    int rc = link(tmp, path) && errno != EEXIST ? -errno : 0;
    unlink(tmp);
    return rc;
}

/* The copy is in use while this descriptor stays open: a shared lock that image_share_gc's
 * exclusive one cannot take. Fails only while a gc is removing the copy. */
static int hold(int fd, const char *path, char *why, size_t whylen)
{
    if (fd >= 0 && flock(fd, LOCK_SH | LOCK_NB)) {
        snprintf(why, whylen, "%s is being removed: not shared", path);
        close(fd);
        return -1;
    }
    return fd;
}

int image_share_open(const uint8_t *data, size_t len, char *why, size_t whylen)
{
    char root[HOME_PATH_MAX], dir[HOME_PATH_MAX], path[HOME_PATH_MAX];
    if (len < 4096 || home_root(root, sizeof(root), why, whylen))
        return -1;
    if (home_file(root, "images", dir, sizeof(dir)) ||
        (mkdir(dir, 0700) && errno != EEXIST)) {
        snprintf(why, whylen, "cannot make %s/images", root);
        return -1;
    }
    char name[64];
    snprintf(name, sizeof(name), "kernel-%zu-%016llx", len, (unsigned long long)digest(data, len));
    if (home_file(dir, name, path, sizeof(path)))
        return -1;
    int fd = open_same(path, data, len);
    if (fd >= 0)
        return hold(fd, path, why, whylen);
    if (access(path, F_OK) == 0) {
        snprintf(why, whylen, "%s differs from the kernel: not shared", path);
        return -1;
    }
    int rc = write_copy(dir, path, data, len);
    if (rc) {
        snprintf(why, whylen, "cannot write %s: %s", path, strerror(-rc));
        return -1;
    }
    if ((fd = open_same(path, data, len)) < 0)
        snprintf(why, whylen, "%s changed as it was made: not shared", path);
    return hold(fd, path, why, whylen);
}

unsigned image_share_gc(void)
{
    char root[HOME_PATH_MAX], dir[HOME_PATH_MAX], path[HOME_PATH_MAX], why[128];
    if (home_root(root, sizeof(root), why, sizeof(why)) ||
        home_file(root, "images", dir, sizeof(dir)))
        return 0;
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    unsigned removed = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "kernel-", 7) || home_file(dir, e->d_name, path, sizeof(path)))
            continue;
        int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            continue;
        /* no running VM holds it: unlinked under the lock, so none can start using it
         * between the check and the removal (a VM that opened it just before finds the
         * lock taken and boots from its private copy) */
        if (!flock(fd, LOCK_EX | LOCK_NB) && !unlink(path))
            removed++;
        close(fd);
    }
    closedir(d);
    return removed;
}

int image_share_map(int fd, uint8_t *dst, size_t len)
{
    void *m = mmap(dst, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, fd, 0);
    if (m == MAP_FAILED)
        return -errno;
    /* no fault-around: only the pages the guest reads are mapped (and counted in RSS) */
    madvise(dst, len, MADV_RANDOM);
    return 0;
}
