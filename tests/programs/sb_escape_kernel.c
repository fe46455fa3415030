/* Hostile kernel-interface and network attempts, one per run: sb_escape_kernel MODE ARGS...
 * Prints "DENIED <mode> errno=N" when refused and "ESCAPED <mode> ..." when a call that must
 * fail in the jail succeeded.
 * Modes: mount TYPE TARGET | umount TARGET | pivot-root | chroot | unshare-user | unshare-mount |
 *   unshare-net | setns | keyctl | bpf | perf | userfaultfd | io-uring | fsopen | open-tree |
 *   open-by-handle | syslog | init-module | tcp IP PORT | udp IP PORT | unix PATH (@name:
 *   abstract) | x32-write */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

static const char *arg1, *arg2;

static int outcome(const char *mode, long rc)
{
    if (rc < 0)
        printf("DENIED %s errno=%d\n", mode, errno);
    else
        printf("ESCAPED %s rc=%ld\n", mode, rc);
    return 0;
}

static int do_mount(void) { return outcome("mount", mount("none", arg2, arg1, 0, NULL)); }
static int do_umount(void) { return outcome("umount", umount2(arg1, MNT_DETACH)); }
static int do_pivot_root(void)
{
    return outcome("pivot-root", syscall(SYS_pivot_root, "/dev", "/dev"));
}
static int do_chroot(void) { return outcome("chroot", chroot("/dev")); }
static int do_unshare_user(void) { return outcome("unshare-user", unshare(CLONE_NEWUSER)); }
static int do_unshare_mount(void) { return outcome("unshare-mount", unshare(CLONE_NEWNS)); }
static int do_unshare_net(void) { return outcome("unshare-net", unshare(CLONE_NEWNET)); }
static int do_setns(void)
{
    int fd = open("/proc/1/ns/mnt", O_RDONLY);
    return outcome("setns", setns(fd < 0 ? 0 : fd, 0));
}
static int do_keyctl(void)
{
    /* KEYCTL_JOIN_SESSION_KEYRING with a new anonymous keyring */
    return outcome("keyctl", syscall(SYS_keyctl, 1, 0));
}
static int do_bpf(void)
{
    uint32_t attr[32] = {2 /* BPF_MAP_TYPE_ARRAY */, 4, 4, 1};
    return outcome("bpf", syscall(SYS_bpf, 0 /* BPF_MAP_CREATE */, attr, sizeof attr));
}
static int do_perf(void)
{
    uint32_t attr[32] = {1 /* PERF_TYPE_SOFTWARE */, sizeof attr};  /* config 0: cpu clock */
    return outcome("perf", syscall(SYS_perf_event_open, attr, 0, -1, -1, 0));
}
static int do_userfaultfd(void) { return outcome("userfaultfd", syscall(SYS_userfaultfd, 0)); }
static int do_io_uring(void)
{
    uint32_t params[30] = {0};
    return outcome("io-uring", syscall(SYS_io_uring_setup, 4, params));
}
static int do_fsopen(void) { return outcome("fsopen", syscall(SYS_fsopen, "tmpfs", 0)); }
static int do_open_tree(void)
{
    return outcome("open-tree", syscall(SYS_open_tree, AT_FDCWD, "/", 1 /* OPEN_TREE_CLONE */));
}
static int do_open_by_handle(void)
{
    /* "shocker": open the root inode of the file system under /dev by handle */
    struct { uint32_t bytes; int32_t type; uint32_t ino, gen; } handle = {8, 1, 2, 0};
    int mount_fd = open("/dev", O_RDONLY | O_DIRECTORY);
    return outcome("open-by-handle",
                   syscall(SYS_open_by_handle_at, mount_fd, &handle, O_RDONLY | O_DIRECTORY));
}
static int do_syslog(void)
{
    static char log[4096];
    long got = syscall(SYS_syslog, 3 /* SYSLOG_ACTION_READ_ALL */, log, sizeof log - 1);
    if (got > 0)
        printf("ESCAPED syslog: %.200s\n", log);
    return got > 0 ? 0 : outcome("syslog", got < 0 ? -1 : 0);
}
static int do_init_module(void)
{
    return outcome("init-module", syscall(SYS_init_module, "", 0, ""));
}

static int do_net(int type)
{
    const char *mode = type == SOCK_STREAM ? "tcp" : "udp";
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(atoi(arg2))};
    inet_pton(AF_INET, arg1, &addr.sin_addr);
    int fd = socket(AF_INET, type, 0);
    if (fd < 0)
        return outcome(mode, -1);
    if (type == SOCK_STREAM && connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0)
        return outcome(mode, -1);
    long sent = sendto(fd, "ESCAPED-NET\n", 12, 0, (struct sockaddr *)&addr, sizeof addr);
    return outcome(mode, sent);
}
static int do_tcp(void) { return do_net(SOCK_STREAM); }
static int do_udp(void) { return do_net(SOCK_DGRAM); }

static int do_unix(void)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    strncpy(addr.sun_path, arg1, sizeof addr.sun_path - 1);
    socklen_t len = offsetof(struct sockaddr_un, sun_path) + strlen(arg1);
    if (arg1[0] == '@')
        addr.sun_path[0] = 0;  /* abstract name: no file system involved */
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0)
        return outcome("unix", -1);
    if (connect(fd, (struct sockaddr *)&addr, len) < 0)
        return outcome("unix", -1);
    return outcome("unix", write(fd, "ESCAPED-UNIX\n", 13));
}

static int do_x32_write(void)
{
    long rc = syscall(0x40000000L | SYS_write, 1, "ESCAPED x32 write\n", 18);
    return outcome("x32-write", rc);
}

static const struct { const char *name; int (*run)(void); } attacks[] = {
    {"mount", do_mount}, {"umount", do_umount}, {"pivot-root", do_pivot_root},
    {"chroot", do_chroot}, {"unshare-user", do_unshare_user},
    {"unshare-mount", do_unshare_mount}, {"unshare-net", do_unshare_net}, {"setns", do_setns},
    {"keyctl", do_keyctl}, {"bpf", do_bpf}, {"perf", do_perf}, {"userfaultfd", do_userfaultfd},
    {"io-uring", do_io_uring}, {"fsopen", do_fsopen}, {"open-tree", do_open_tree},
    {"open-by-handle", do_open_by_handle}, {"syslog", do_syslog},
    {"init-module", do_init_module}, {"tcp", do_tcp}, {"udp", do_udp}, {"unix", do_unix},
    {"x32-write", do_x32_write},
};

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    arg1 = argc > 2 ? argv[2] : "";
    arg2 = argc > 3 ? argv[3] : "0";
    for (size_t i = 0; argc > 1 && i < sizeof attacks / sizeof *attacks; i++)
        if (!strcmp(argv[1], attacks[i].name))
            return attacks[i].run();
    return 64;
}
