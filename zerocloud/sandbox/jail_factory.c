/* zc-launcher factory: the jail factory in C (see zerocloud/sandbox/factory.py).
 *
 * The supervisor starts "zc-launcher factory <socket fd> <its pid>" once and writes one
 * byte per warm jail it wants on that socket: "W" for its pool (the jail is named zc-warm
 * while it waits), "J" for a session that waits already (zc-jail; a process without a
 * pool starts a factory for one such jail).  For each, this process clones a jail
 * into its namespaces (clone3: a new user, pid, mount, uts, ipc and network namespace,
 * CLONE_PARENT so the supervisor is its parent and reaps it, CLONE_PIDFD) and replies with
 * that byte, the jail's pid (8 bytes, big-endian) and four fds (SCM_RIGHTS): its pidfd, the
 * control socket, the sync pipe's write end and the status pipe's read end; then it closes
 * its own copies.  It keeps no other fd than its socket (fd 3), dies with the supervisor
 * (PR_SET_PDEATHSIG) and exits at EOF, or on any other byte (pre-started python jails
 * come from the Python factory).
 *
 * The jail, a copy of this small process, puts its control socket and sync pipes on fds
 * 3-5, closes every other fd, maps the jail's root to the supervisor's uid and gid (as
 * zerocloud.sandbox.jail.become_root_inside) and goes on as the launcher's warm jail
 * (launcher.c's warm_jail) without an exec: it already has every capability over its new
 * namespaces, and only this program's ~70 KB to copy.  A Python process cloning jails
 * costs more: the clone copies its page tables, and the jail's steps in Python copy every
 * page they touch (the Python stage, zerocloud.sandbox.jail.enter_warm, where the
 * launcher is not built).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "launcher.h"

#define SOCKET_FD 3
#define KIND_WARM 'W'        /* a warm jail for the pool (named zc-warm while it waits) */
#define KIND_NOW 'J'         /* one for a session that waits already (named zc-jail) */
#define JAIL_FDS 4
#define NR_CLONE3 435
#define JAIL_NAMESPACES (CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | \
                         CLONE_NEWPID | CLONE_NEWNET)

struct clone_args_ {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};

/* A step of the factory itself failed: say so on stderr (the supervisor's log) and stop;
 * the supervisor then clones its jails on demand. */
static void factory_failed(const char *what)
{
    fprintf(stderr, "zc-factory: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* In the jail: write one /proc/self file. */
static void write_proc(const char *name, const char *text)
{
    char path[64];
    int fd;
    snprintf(path, sizeof path, "/proc/self/%s", name);
    fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
        fail("%s: %s", path, strerror(errno));
    close(fd);
}

/* The jail just cloned: its fds on 3-5 (parked above 9 first: no clobbering), nothing
 * else open, root inside mapped to ``uid``/``gid`` outside, then the warm jail. */
static void enter_jail(const int ends[3], uid_t uid, gid_t gid, const char *name)
{
    char map[64];
    int parked[3], i;
    prctl(PR_SET_NAME, name, 0, 0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    for (i = 0; i < 3; i++)
        if ((parked[i] = fcntl(ends[i], F_DUPFD, 10)) < 0)
            _exit(EXIT_JAIL_FAILED);
    for (i = 0; i < 3; i++)
        if (dup2(parked[i], CONTROL_FD + i) < 0)
            _exit(EXIT_JAIL_FAILED);
    if (syscall(NR_CLOSE_RANGE, TO_PARENT + 1, ~0u, 0) < 0 || getpid() != 1)
        _exit(EXIT_JAIL_FAILED);
    write_proc("setgroups", "deny");
    snprintf(map, sizeof map, "0 %u 1", (unsigned)uid);
    write_proc("uid_map", map);
    snprintf(map, sizeof map, "0 %u 1", (unsigned)gid);
    write_proc("gid_map", map);
    if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
        fail("setresuid: %s", strerror(errno));
    warm_jail(name);
}

/* Clone one warm jail of ``kind`` and hand it to the supervisor. */
static void make_jail(char kind, uid_t uid, gid_t gid)
{
    int to_child[2], from_child[2], control[2], pidfd = -1, sent[JAIL_FDS];
    char reply[9];
    union { char buf[CMSG_SPACE(sizeof sent)]; struct cmsghdr align; } space;
    struct clone_args_ args;
    struct iovec iov = { reply, sizeof reply };
    struct msghdr msg;
    struct cmsghdr *cmsg;
    long pid;
    int i;
    if (pipe2(to_child, O_CLOEXEC) < 0 || pipe2(from_child, O_CLOEXEC) < 0 ||
            socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, control) < 0)
        factory_failed("pipes");
    memset(&args, 0, sizeof args);
    args.flags = JAIL_NAMESPACES | CLONE_PARENT | CLONE_PIDFD;
    args.pidfd = (uint64_t)(uintptr_t)&pidfd;
    pid = syscall(NR_CLONE3, &args, sizeof args);     /* exit signal: ours (CLONE_PARENT) */
    if (pid == 0) {
        int ends[3] = { control[1], to_child[0], from_child[1] };
        enter_jail(ends, uid, gid, kind == KIND_NOW ? "zc-jail" : "zc-warm");
    }
    if (pid < 0)
        factory_failed("clone3");
    close(control[1]);
    close(to_child[0]);
    close(from_child[1]);
    reply[0] = kind;
    for (i = 0; i < 8; i++)
        reply[1 + i] = (char)((uint64_t)pid >> (8 * (7 - i)));
    sent[0] = pidfd;
    sent[1] = control[0];
    sent[2] = to_child[1];
    sent[3] = from_child[0];
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = space.buf;
    msg.msg_controllen = sizeof space.buf;
    cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof sent);
    memcpy(CMSG_DATA(cmsg), sent, sizeof sent);
    if (sendmsg(SOCKET_FD, &msg, MSG_NOSIGNAL) != sizeof reply)
        factory_failed("send");                       /* (the supervisor went away) */
    for (i = 0; i < JAIL_FDS; i++)
        close(sent[i]);
}

int factory_main(const char *socket_fd, const char *supervisor_pid)
{
    char wanted[64];
    struct stat socket_stat;
    int fd = atoi(socket_fd);
    ssize_t n, i;
    uid_t uid = geteuid();
    gid_t gid = getegid();
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (getppid() != (pid_t)atol(supervisor_pid))
        return 1;                                     /* it is gone already */
    if (fd < 0 || fstat(fd, &socket_stat) < 0 || !S_ISSOCK(socket_stat.st_mode)) {
        fputs("zc-launcher factory: the jail factory of a zerocloud supervisor; "
              "not a command\n", stderr);
        return 2;
    }
    if (fd != SOCKET_FD && dup2(fd, SOCKET_FD) < 0)
        factory_failed("dup2");
    if (syscall(NR_CLOSE_RANGE, SOCKET_FD + 1, ~0u, 0) < 0)
        factory_failed("close_range");
    prctl(PR_SET_NAME, "zc-factory", 0, 0, 0);
    for (;;) {
        n = read(SOCKET_FD, wanted, sizeof wanted);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return 0;
        for (i = 0; i < n; i++) {
            if (wanted[i] != KIND_WARM && wanted[i] != KIND_NOW) {
                fprintf(stderr, "zc-factory: unknown request %d\n", wanted[i]);
                return 1;
            }
            make_jail(wanted[i], uid, gid);
        }
    }
}
