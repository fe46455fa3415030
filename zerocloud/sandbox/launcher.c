/* zc-launcher: the compiled last stage of a warm jail (see zerocloud/sandbox/launcher.py).
 *
 * A warm jail, cloned into its namespaces by this program's factory mode (jail_factory.c)
 * with its fds on 3-5 and root inside, does here the rest of the session-independent
 * set-up (host name, empty pivoted root with the host's tree at /.old-root, signal
 * dispositions) as zerocloud.sandbox.jail.enter_warm does.  Then it waits for the
 * session's plan on fd 3 (the control socket), then does
 * what zerocloud.sandbox.jail's populate_root and _launch_program do, step for step:
 * bind each channel and image from the host tree at /.old-root (openat2 without symlinks,
 * the file checked against the descriptor the supervisor sent), detach the old root, make
 * every mount private, masks, FIFOs, symlinks, remount the root read-only, the FIFO
 * hand-shake, the standard channels on 0-2, rlimits, SIGXFSZ blocked, every capability
 * dropped, no_new_privs, every other fd closed, the seccomp filter loaded with a listener
 * whose number is sent to the supervisor ("L<fd>\n" on fd 5), then execveat of the
 * program's fd.  Any failure: "E<what>\n" on fd 5 and exit 126.
 *
 * fds: 3 control socket, 4 sync pipe from the supervisor, 5 status pipe to it.
 * The plan (all integers little-endian; a string is a u32 length and its bytes):
 *   magic "ZCL1", u32 fd count, u32 exec fd index,
 *   u32 n, n x (u32 fd index, u32 directory, u64 mount attributes, str source, str target),
 *   u32 n, n x str mask, u32 n, n x str fifo, u32 n, n x (str path, str text) symlinks,
 *   u32 n, n x (u32 fd number, u32 open flags, i32 host fd index or -1, str path),
 *   u32 n, n x str argv, u32 n, n x str env, u32 n, n x (u32 resource, u64 soft, u64 hard),
 *   str seccomp filter (struct sock_filter array).
 * It arrives as an 8-byte big-endian length and the body; its fds ride on its first bytes,
 * at most 253 per byte (zerocloud.sandbox.fdpass), in the order the fd indexes count.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "launcher.h"

#define EXEC_FD 3
#define MAX_FDS_PER_MESSAGE 253
#define MAX_PLAN_BYTES (256u << 20)
#define OLD_ROOT "/.old-root"
#define SAFE_FLAGS (MS_NOSUID | MS_NODEV)

#define OPEN_TREE_CLONE_ 1
#define AT_RECURSIVE_ 0x8000
#define MOVE_MOUNT_F_EMPTY_PATH_ 0x4
#define RESOLVE_NO_MAGICLINKS_ 0x02
#define RESOLVE_NO_SYMLINKS_ 0x04
#define RESOLVE_BENEATH_ 0x08
#define SECCOMP_SET_MODE_FILTER_ 1
#define SECCOMP_FILTER_FLAG_NEW_LISTENER_ (1u << 3)
#define CAP_VERSION_3 0x20080522
#define NR_OPEN_TREE 428
#define NR_MOVE_MOUNT 429
#define NR_OPENAT2 437
#define NR_MOUNT_SETATTR 442

struct open_how_ { uint64_t flags, mode, resolve; };
struct mount_attr_ { uint64_t attr_set, attr_clr, propagation, userns_fd; };
struct cap_header_ { uint32_t version; int pid; };
struct cap_data_ { uint32_t effective, permitted, inheritable; };
struct sock_fprog_ { unsigned short len; void *filter; };

/* -- failing closed -------------------------------------------------------------------- */
void fail(const char *format, ...)
{
    char message[4096];
    va_list args;
    int used = snprintf(message, sizeof message, "EOSError: ");
    va_start(args, format);
    used += vsnprintf(message + used, sizeof message - used - 1, format, args);
    va_end(args);
    if (used > (int)sizeof message - 2)
        used = sizeof message - 2;
    message[used++] = '\n';
    if (write(TO_PARENT, message, used) < 0) { /* nobody to tell */ }
    _exit(EXIT_JAIL_FAILED);
}

static void check(long result, const char *what, const char *path)
{
    if (result < 0)
        fail("%s %s: %s", what, path, strerror(errno));
}

static int park(int fd);

/* -- the plan ---------------------------------------------------------------------------- */
struct reader { const unsigned char *at, *end; int fd_count; };

static const unsigned char *take(struct reader *r, size_t size)
{
    const unsigned char *here = r->at;
    if ((size_t)(r->end - r->at) < size)
        fail("the plan is truncated");
    r->at += size;
    return here;
}

static uint32_t u32(struct reader *r)
{
    const unsigned char *p = take(r, 4);
    return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t u64(struct reader *r)
{
    uint64_t low = u32(r);
    return low | (uint64_t)u32(r) << 32;
}

static uint32_t count(struct reader *r)
{
    uint32_t n = u32(r);
    if (n > (size_t)(r->end - r->at))     /* every item is at least one byte */
        fail("the plan announces %u items", n);
    return n;
}

/* A NUL-terminated copy of a string field (a path or argument never holds NUL). */
static char *text(struct reader *r)
{
    uint32_t size = u32(r);
    const unsigned char *bytes = take(r, size);
    char *copy;
    if (memchr(bytes, 0, size))
        fail("a string of the plan holds NUL");
    copy = malloc(size + 1);
    if (!copy)
        fail("out of memory");
    memcpy(copy, bytes, size);
    copy[size] = 0;
    return copy;
}

static int index_of(struct reader *r, const int *fds, int allow_none)
{
    int32_t index = (int32_t)u32(r);
    if (allow_none && index == -1)
        return -1;
    if (index < 0 || index >= r->fd_count)
        fail("the plan names descriptor %d of %d", index, r->fd_count);
    return fds[index];
}

/* Read the 8-byte length and the body, collecting every fd that rides on it. */
static unsigned char *receive_plan(size_t *size, int **fds, int *fd_count)
{
    unsigned char head[8], *body = NULL;
    size_t want = sizeof head, got = 0;
    int capacity = 0;
    int in_head = 1;
    *fd_count = 0;
    *fds = NULL;
    for (;;) {
        union { char buf[CMSG_SPACE(MAX_FDS_PER_MESSAGE * sizeof(int))]; struct cmsghdr align; } control;
        struct iovec iov = { (in_head ? head : body) + got, want - got };
        struct msghdr msg = { 0 };
        struct cmsghdr *cmsg;
        ssize_t n;
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.buf;
        msg.msg_controllen = sizeof control.buf;
        n = recvmsg(CONTROL_FD, &msg, MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == EINTR)
            continue;
        for (cmsg = CMSG_FIRSTHDR(&msg); n >= 0 && cmsg; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
            if (cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_RIGHTS) {
                int more = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                if (*fd_count + more > capacity) {
                    capacity = (*fd_count + more) * 2;
                    *fds = realloc(*fds, capacity * sizeof(int));
                    if (!*fds)
                        fail("out of memory");
                }
                memcpy(*fds + *fd_count, CMSG_DATA(cmsg), more * sizeof(int));
                for (; more > 0; more--, (*fd_count)++)    /* (only if 0-2 were closed: */
                    if ((*fds)[*fd_count] <= TO_PARENT)    /* keep them for the channels) */
                        (*fds)[*fd_count] = park((*fds)[*fd_count]);
            }
        }
        if (n <= 0)
            fail("the plan did not arrive whole: %s", n < 0 ? strerror(errno) : "closed");
        got += n;
        if (got < want)
            continue;
        if (!in_head)
            break;
        want = (size_t)head[4] << 24 | head[5] << 16 | head[6] << 8 | head[7];
        if (head[0] | head[1] | head[2] | head[3] || want > MAX_PLAN_BYTES || want < 12)
            fail("the plan's length is out of range");
        body = malloc(want);
        if (!body)
            fail("out of memory");
        in_head = 0;
        got = 0;
    }
    *size = want;
    return body;
}

/* -- while warm: what does not depend on the session (jail.enter_warm's steps 1-2 after
 * the uid maps, which jail_factory.c writes) ----------------------------------------------- */
static void stage_root(void)
{
    static const char *made[] = { "/tmp/dev", "/tmp/dev/in", "/tmp/dev/out", "/tmp" OLD_ROOT };
    unsigned i;
    check(mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL), "mount --make-rslave", "/");
    check(mount("tmpfs", "/tmp", "tmpfs", SAFE_FLAGS | MS_NOEXEC, "size=1m,mode=0755"),
          "mount tmpfs", "/tmp");
    for (i = 0; i < sizeof made / sizeof *made; i++)
        check(mkdir(made[i], 0755), "mkdir", made[i]);
    check(syscall(SYS_pivot_root, "/tmp", "/tmp" OLD_ROOT), "pivot_root", "/tmp");
    check(chdir("/"), "chdir", "/");
}

static void warm_up(void)
{
    struct rlimit files;
    sigset_t none;
    int sig;
    /* room for a plan's thousands of fds (fdpass.raise_open_files_limit) */
    if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur != files.rlim_max) {
        files.rlim_cur = files.rlim_max;
        setrlimit(RLIMIT_NOFILE, &files);
    }
    check(sethostname("zerocloud", 9), "sethostname", "");  /* the uts namespace's name */
    stage_root();
    /* default dispositions (exec reset the caught ones, not the ignored ones) and an
     * empty mask; the C library's own signals refuse the change, harmlessly */
    for (sig = 1; sig < 65; sig++) {
        struct sigaction act;
        memset(&act, 0, sizeof act);
        act.sa_handler = SIG_DFL;
        if (sig != SIGKILL && sig != SIGSTOP)
            sigaction(sig, &act, NULL);
    }
    sigemptyset(&none);
    check(sigprocmask(SIG_SETMASK, &none, NULL), "sigprocmask", "");
}

/* -- the root ------------------------------------------------------------------------------ */
static void make_dir(const char *path)
{
    if (mkdir(path, 0755) < 0 && errno != EEXIST)
        fail("mkdir %s: %s", path, strerror(errno));
}

static void make_parents(const char *path)
{
    char copy[4096];
    char *slash;
    if (strlen(path) >= sizeof copy)
        fail("path too long: %s", path);
    strcpy(copy, path);
    for (slash = strchr(copy + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
        *slash = 0;
        make_dir(copy);
        *slash = '/';
    }
}

static void same_file(int one, int other, const char *source, const char *target)
{
    struct stat a, b;
    check(fstat(one, &a), "fstat", source);
    check(fstat(other, &b), "fstat", source);
    if (a.st_dev != b.st_dev || a.st_ino != b.st_ino)
        fail("cannot bind %s for %s: the path no longer leads to the file the supervisor holds",
             source, target);
}

/* Bind ``source`` (found under the old root without following any symlink, checked to be
 * the file of ``held``) at ``target`` as a detached copy with ``attributes``. */
static void bind_one(int old_root, int held, int directory, uint64_t attributes,
                 const char *source, const char *target)
{
    struct open_how_ how = { O_PATH | O_CLOEXEC | O_NOFOLLOW | (directory ? O_DIRECTORY : 0), 0,
                             RESOLVE_NO_SYMLINKS_ | RESOLVE_NO_MAGICLINKS_ | RESOLVE_BENEATH_ };
    struct mount_attr_ attr = { attributes, 0, 0, 0 };
    const char *relative = source;
    unsigned flags = OPEN_TREE_CLONE_ | O_CLOEXEC | AT_EMPTY_PATH | (directory ? AT_RECURSIVE_ : 0);
    int found, tree;
    struct stat st;
    while (*relative == '/')
        relative++;
    found = syscall(NR_OPENAT2, old_root, relative, &how, sizeof how);
    if (found < 0)
        fail("cannot bind %s for %s: %s", source, target, strerror(errno));
    same_file(found, held, source, target);
    tree = syscall(NR_OPEN_TREE, found, "", flags);
    check(tree, "open_tree", source);
    close(found);
    if (attributes)
        check(syscall(NR_MOUNT_SETATTR, tree, "", AT_EMPTY_PATH | (directory ? AT_RECURSIVE_ : 0),
                      &attr, sizeof attr), "mount_setattr", source);
    make_parents(target);
    if (directory) {
        make_dir(target);
    } else if (stat(target, &st) < 0) {
        int made = open(target, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
        check(made, "create", target);
        close(made);
    }
    check(syscall(NR_MOVE_MOUNT, tree, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH_),
          "move_mount", target);
    close(tree);
}

static void populate_root(struct reader *r, const int *fds)
{
    uint32_t n = count(r), i;
    int old_root = open(OLD_ROOT, O_PATH | O_DIRECTORY | O_CLOEXEC);
    check(old_root, "open", OLD_ROOT);
    for (i = 0; i < n; i++) {
        int held = index_of(r, fds, 0);
        uint32_t directory = u32(r);
        uint64_t attributes = u64(r);
        char *source = text(r), *target = text(r);
        bind_one(old_root, held, directory != 0, attributes, source, target);
        free(source);
        free(target);
    }
    close(old_root);
    check(umount2(OLD_ROOT, MNT_DETACH), "umount", OLD_ROOT);
    check(rmdir(OLD_ROOT), "rmdir", OLD_ROOT);
    check(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), "mount --make-rprivate", "/");
}

/* Masks, FIFOs and symlinks (in that order, as jail.populate_root); then the root goes
 * read-only.  Returns the number of FIFOs. */
static uint32_t populate_rest(struct reader *r)
{
    uint32_t fifos, n, i;
    for (n = count(r), i = 0; i < n; i++) {
        char *path = text(r);
        check(mount("tmpfs", path, "tmpfs", SAFE_FLAGS | MS_NOEXEC | MS_RDONLY,
                    "size=4k,mode=0555"), "mount tmpfs", path);
        free(path);
    }
    for (fifos = n = count(r), i = 0; i < n; i++) {
        char *path = text(r);
        check(mkfifo(path, 0600), "mkfifo", path);
        free(path);
    }
    for (n = count(r), i = 0; i < n; i++) {
        char *path = text(r), *link = text(r);
        make_parents(path);
        check(symlink(link, path), "symlink", path);
        free(path);
        free(link);
    }
    check(mount(NULL, "/", NULL, MS_REMOUNT | MS_RDONLY | SAFE_FLAGS | MS_NOEXEC, NULL),
          "remount read-only", "/");
    return fifos;
}

/* -- the program's descriptors ------------------------------------------------------------ */
static void await_fifo_ends(uint32_t fifos)
{
    char got = 0;
    if (!fifos)
        return;
    check(write(TO_PARENT, "R", 1), "write", "status pipe");
    if (read(FROM_PARENT, &got, 1) != 1 || got != 'G')
        fail("supervisor went away during set-up");
}

static int park(int fd)
{
    int parked = fcntl(fd, F_DUPFD_CLOEXEC, 10);
    check(parked, "dup", "channel");
    return parked;
}

/* The standard channels on 0-2, as jail.open_std_channels puts them. */
static void open_std_channels(struct reader *r, const int *fds)
{
    int parked[3] = { -1, -1, -1 };
    uint32_t n = count(r), i;
    int number;
    for (i = 0; i < n; i++) {
        uint32_t fd_number = u32(r), flags = u32(r);
        int original = index_of(r, fds, 1), fd;
        char *path = text(r);
        if (fd_number > 2 || parked[fd_number] >= 0)
            fail("bad standard channel %u", fd_number);
        if (original >= 0 && (fcntl(original, F_GETFL) & O_ACCMODE) == O_WRONLY) {
            fd = dup(original);
            check(fd, "dup", path);
        } else {
            fd = open(path, (int)flags | O_CLOEXEC);
            check(fd, "open", path);
            if (original >= 0 && (fcntl(original, F_GETFL) & O_APPEND))
                check(fcntl(fd, F_SETFL, O_APPEND), "fcntl", path);
            else if (original >= 0)
                check(lseek(fd, lseek(original, 0, SEEK_CUR), SEEK_SET), "lseek", path);
        }
        parked[fd_number] = park(fd);
        close(fd);
        free(path);
    }
    for (number = 0; number < 3; number++) {
        int ends[2];
        if (parked[number] >= 0)
            continue;                 /* an absent channel: an empty pipe, never an fd */
        check(pipe(ends), "pipe", "");  /* inherited from the host */
        parked[number] = park(ends[number == 0 ? 0 : 1]);
        close(ends[0]);
        close(ends[1]);
    }
    for (number = 0; number < 3; number++) {
        check(dup2(parked[number], number), "dup2", "channel");
        close(parked[number]);
    }
}

/* -- the last restrictions ----------------------------------------------------------------- */
static void restrict_process(struct reader *r)
{
    struct cap_header_ header = { CAP_VERSION_3, 0 };
    struct cap_data_ none[2] = { { 0, 0, 0 }, { 0, 0, 0 } };
    uint32_t n = count(r), i;
    sigset_t xfsz;
    for (i = 0; i < n; i++) {
        uint32_t which = u32(r);
        struct rlimit limit;
        limit.rlim_cur = u64(r);
        limit.rlim_max = u64(r);
        if (which == RLIMIT_NOFILE) {       /* never above the hard limit we inherited */
            struct rlimit now;
            check(getrlimit(RLIMIT_NOFILE, &now), "getrlimit", "");
            if (now.rlim_max != RLIM_INFINITY) {
                if (limit.rlim_cur > now.rlim_max) limit.rlim_cur = now.rlim_max;
                if (limit.rlim_max > now.rlim_max) limit.rlim_max = now.rlim_max;
            }
        }
        check(setrlimit(which, &limit), "setrlimit", "");
    }
    /* A write refused at RLIMIT_FSIZE leaves SIGXFSZ pending for the monitor to see. */
    sigemptyset(&xfsz);
    sigaddset(&xfsz, SIGXFSZ);
    check(sigprocmask(SIG_BLOCK, &xfsz, NULL), "sigprocmask", "");
    check(syscall(SYS_capset, &header, none), "capset", "");
    check(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl", "no_new_privs");
}

static char **strings(struct reader *r)
{
    uint32_t n = count(r), i;
    char **list = calloc(n + 1, sizeof *list);
    if (!list)
        fail("out of memory");
    for (i = 0; i < n; i++)
        list[i] = text(r);
    return list;
}

/* The warm jail, pid 1 of its namespaces, root inside, fds 3-5 in place: the rest of the
 * warm set-up, then wait for the plan and start the session's program (never returns). */
void warm_jail(const char *name)
{
    struct reader r;
    size_t size;
    int *fds, fd_count, exec_fd, listener;
    unsigned char *plan;
    char **argv, **env, line[32];
    uint32_t fifos, filter_bytes;
    struct sock_fprog_ filter;

    prctl(PR_SET_NAME, name, 0, 0, 0);             /* zc-warm or zc-jail: see jail.py */
    warm_up();
    plan = receive_plan(&size, &fds, &fd_count);
    prctl(PR_SET_NAME, "zc-jail", 0, 0, 0);
    close(CONTROL_FD);
    r.at = plan;
    r.end = plan + size;
    r.fd_count = fd_count;
    if (memcmp(take(&r, 4), "ZCL1", 4) != 0)
        fail("the plan is not a launcher plan");
    if (u32(&r) != (uint32_t)fd_count)
        fail("the plan names descriptors that did not arrive (%d arrived)", fd_count);
    exec_fd = index_of(&r, fds, 0);
    populate_root(&r, fds);
    fifos = populate_rest(&r);
    await_fifo_ends(fifos);
    open_std_channels(&r, fds);
    argv = strings(&r);
    env = strings(&r);
    if (!argv[0])
        fail("the plan has no argv");
    check(dup3(exec_fd, EXEC_FD, O_CLOEXEC), "dup", "program");
    check(fcntl(FROM_PARENT, F_SETFD, FD_CLOEXEC), "fcntl", "sync pipe");
    check(fcntl(TO_PARENT, F_SETFD, FD_CLOEXEC), "fcntl", "status pipe");
    restrict_process(&r);
    filter_bytes = u32(&r);
    filter.filter = (void *)take(&r, filter_bytes);
    filter.len = filter_bytes / 8;
    if (filter_bytes % 8 || !filter.len || filter_bytes / 8 > 0xffff || r.at != r.end)
        fail("the plan's seccomp filter is malformed");
    check(syscall(NR_CLOSE_RANGE, TO_PARENT + 1, ~0u, 0), "close_range", "");
    listener = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER_, SECCOMP_FILTER_FLAG_NEW_LISTENER_,
                       &filter);
    check(listener, "seccomp", "");
    check(fcntl(listener, F_SETFD, FD_CLOEXEC), "fcntl", "listener");
    /* The supervisor takes the listener with pidfd_getfd while execveat waits for its
     * answer; exec then closes our copy (close-on-exec). */
    check(write(TO_PARENT, line, snprintf(line, sizeof line, "L%d\n", listener)), "write",
          "status pipe");
    syscall(SYS_execveat, EXEC_FD, "", argv, env, AT_EMPTY_PATH);
    fail("execveat: %s", strerror(errno));
}

int main(int argc, char **args)
{
    if (argc == 2 && strcmp(args[1], "--version") == 0) {
        fputs("zc-launcher 2\n", stdout);
        return 0;
    }
    if (argc == 4 && strcmp(args[1], "factory") == 0)
        return factory_main(args[2], args[3]);
    /* A warm jail runs only as a clone of the factory: nothing else touches the host. */
    fputs("zc-launcher: the jail factory and last stage of a zerocloud supervisor; "
          "not a command\n", stderr);
    return 2;
}
