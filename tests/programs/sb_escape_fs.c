/* Hostile file-system attempts, one per run: sb_escape_fs MODE ARGS...
 * Prints "DENIED <mode> <path> errno=N" when the kernel refuses and "ESCAPED <mode> <path> ..."
 * when an attempt that must fail inside the jail worked. "list" prints what it sees:
 * "LISTED <path>" then one "ENTRY <name>" line per directory entry.
 * Modes: read PATH... | list PATH | create PATH | mkdir PATH | write PATH | truncate PATH |
 *        symlink TARGET LINK | link OLD NEW | rename OLD NEW | unlink PATH | chmod PATH |
 *        mknod PATH | chdir-up RELPATH | dotdot-fd RELPATH |
 *        grow PATH (ftruncate to 1 TiB, then pwrite one byte at 2 TiB: a huge sparse file) |
 *        fds (print "FD <n> <kind>" for every open descriptor below 4096; for a directory,
 *        walk up from it with openat("..") and list what is there) */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static int outcome(const char *mode, const char *path, int rc)
{
    if (rc < 0)
        printf("DENIED %s %s errno=%d\n", mode, path, errno);
    else
        printf("ESCAPED %s %s rc=%d\n", mode, path, rc);
    return 0;
}

static void read_all(const char *path)
{
    char buffer[4096];
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        outcome("read", path, -1);
        return;
    }
    ssize_t got = read(fd, buffer, sizeof buffer - 1);
    buffer[got > 0 ? got : 0] = 0;
    printf("ESCAPED read %s got=%zd: %s\n", path, got, buffer);
    close(fd);
}

static int list(const char *path)
{
    DIR *dir = opendir(path);
    if (!dir)
        return outcome("list", path, -1);
    printf("LISTED %s\n", path);
    for (struct dirent *e; (e = readdir(dir));)
        printf("ENTRY %s\n", e->d_name);
    closedir(dir);
    return 0;
}

/* chdir("..") many times from the start directory, then look around and open RELPATH. */
static int chdir_up(const char *relpath)
{
    char cwd[4096];
    printf("CWD %s\n", getcwd(cwd, sizeof cwd) ? cwd : "(unknown)");
    for (int i = 0; i < 40; i++)
        chdir("..");
    list(".");
    int fd = open(relpath, O_RDONLY);
    if (fd >= 0) {
        read_all(relpath);
        return 0;
    }
    return outcome("chdir-up", relpath, -1);
}

/* Walk up with openat(fd, "..") from the start directory, then openat RELPATH. */
static int dotdot_fd(const char *relpath)
{
    int fd = open(".", O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        fd = open("/dev", O_RDONLY | O_DIRECTORY);
    for (int i = 0; fd >= 0 && i < 40; i++) {
        int up = openat(fd, "..", O_RDONLY | O_DIRECTORY);
        if (up < 0)
            break;
        close(fd);
        fd = up;
    }
    int target = fd < 0 ? -1 : openat(fd, relpath, O_RDONLY);
    if (target < 0)
        return outcome("dotdot-fd", relpath, -1);
    char buffer[256];
    ssize_t got = read(target, buffer, sizeof buffer - 1);
    buffer[got > 0 ? got : 0] = 0;
    printf("ESCAPED dotdot-fd %s: %s\n", relpath, buffer);
    return 0;
}

static int grow(const char *path)
{
    int fd = open(path, O_WRONLY);
    if (fd < 0)
        return outcome("grow-open", path, -1);
    outcome("grow-ftruncate", path, ftruncate(fd, 1LL << 40));
    outcome("grow-pwrite", path, (int)pwrite(fd, "x", 1, 2LL << 40));
    return 0;
}

static int fds(void)
{
    for (int fd = 0; fd < 4096; fd++) {
        struct stat st;
        if (fstat(fd, &st) < 0)
            continue;
        const char *kind = S_ISDIR(st.st_mode) ? "dir" : S_ISSOCK(st.st_mode) ? "sock"
                         : S_ISREG(st.st_mode) ? "reg" : S_ISCHR(st.st_mode) ? "chr"
                         : S_ISFIFO(st.st_mode) ? "fifo" : "other";
        printf("FD %d %s\n", fd, kind);
        if (S_ISDIR(st.st_mode)) {
            int up = fd;
            for (int i = 0; i < 40 && up >= 0; i++) {
                int next = openat(up, "..", O_RDONLY | O_DIRECTORY);
                if (next < 0)
                    break;
                up = next;
            }
            if (up >= 0 && fchdir(up) == 0)
                list(".");
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc < 2)
        return 64;
    const char *mode = argv[1], *a = argc > 2 ? argv[2] : "", *b = argc > 3 ? argv[3] : "";
    if (!strcmp(mode, "read")) {
        for (int i = 2; i < argc; i++)
            read_all(argv[i]);
        return 0;
    }
    if (!strcmp(mode, "list"))
        return list(a);
    if (!strcmp(mode, "create"))
        return outcome(mode, a, open(a, O_CREAT | O_EXCL | O_WRONLY, 0644));
    if (!strcmp(mode, "mkdir"))
        return outcome(mode, a, mkdir(a, 0755));
    if (!strcmp(mode, "write")) {
        int fd = open(a, O_WRONLY | O_APPEND);
        return outcome(mode, a, fd < 0 ? fd : (int)write(fd, "ESCAPED-WRITE\n", 14));
    }
    if (!strcmp(mode, "truncate"))
        return outcome(mode, a, truncate(a, 0));
    if (!strcmp(mode, "symlink"))
        return outcome(mode, b, symlink(a, b));
    if (!strcmp(mode, "link"))
        return outcome(mode, b, link(a, b));
    if (!strcmp(mode, "rename"))
        return outcome(mode, b, rename(a, b));
    if (!strcmp(mode, "unlink"))
        return outcome(mode, a, unlink(a));
    if (!strcmp(mode, "chmod"))
        return outcome(mode, a, chmod(a, 04777));
    if (!strcmp(mode, "mknod"))
        return outcome(mode, a, mknod(a, S_IFCHR | 0666, makedev(1, 1)));
    if (!strcmp(mode, "chdir-up"))
        return chdir_up(a);
    if (!strcmp(mode, "dotdot-fd"))
        return dotdot_fd(a);
    if (!strcmp(mode, "grow"))
        return grow(a);
    if (!strcmp(mode, "fds"))
        return fds();
    return 64;
}
