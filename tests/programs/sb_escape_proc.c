/* Hostile process-level attempts, one per run: sb_escape_proc MODE ARGS...
 * Prints "DENIED <mode> errno=N" when refused and "ESCAPED <mode> ..." when an attempt that
 * must fail in the jail worked (a child process ran, another program was executed, identity
 * or limits changed, a terminal was reached); setuid/setgid try to become id 12345.
 * "kill" only reports "RESULT kill ..." (the test checks that its decoy process survived).
 * Modes: fork | vfork | clone | clone3 | exec PATH | execveat-fd PATH | memfd-exec PATH |
 *   ptrace-traceme | ptrace-attach PID | vm-read PID ADDR | pidfd PID | kill PID SIG |
 *   setuid | setgid | setgroups | rlimits | nice | tiocsti | tiocsti-hi32 | tty */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
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

static int after_fork(const char *mode, long pid)
{
    if (pid == 0) {
        printf("ESCAPED %s: child process running\n", mode);
        _exit(0);
    }
    if (pid > 0)
        waitpid(pid, NULL, 0);
    return outcome(mode, pid);
}

static int do_fork(void) { return after_fork("fork", fork()); }
static int do_vfork(void)
{
    pid_t pid = vfork();
    if (pid == 0) {
        write(1, "ESCAPED vfork: child process running\n", 37);
        _exit(0);
    }
    return after_fork("vfork", pid);
}
static int do_clone(void) { return after_fork("clone", syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0)); }
static int do_clone3(void)
{
    uint64_t args[11] = {0};
    args[4] = SIGCHLD; /* exit_signal */
    return after_fork("clone3", syscall(SYS_clone3, args, sizeof args));
}

static char *const no_env[] = {NULL};

static int do_exec(void)
{
    char *const argv[] = {(char *)arg1, NULL};
    execve(arg1, argv, no_env);
    return outcome("exec", -1);
}

static int do_execveat_fd(void)
{
    char *const argv[] = {"x", NULL};
    int fd = open(arg1, O_RDONLY);
    if (fd < 0)
        return outcome("execveat-fd-open", -1);
    syscall(SYS_execveat, fd, "", argv, no_env, AT_EMPTY_PATH);
    return outcome("execveat-fd", -1);
}

static int do_memfd_exec(void)
{
    static char image[8 << 20];
    char *const argv[] = {"x", NULL};
    int in = open(arg1, O_RDONLY);
    ssize_t size = in < 0 ? -1 : read(in, image, sizeof image);
    if (size <= 0)
        return outcome("memfd-exec-read", -1);
    int fd = syscall(SYS_memfd_create, "x", 0);
    if (fd < 0)
        return outcome("memfd-exec", -1);
    if (write(fd, image, size) != size)
        return outcome("memfd-exec-write", -1);
    syscall(SYS_execveat, fd, "", argv, no_env, AT_EMPTY_PATH);
    return outcome("memfd-exec", -1);
}

static int do_traceme(void) { return outcome("ptrace-traceme", ptrace(PTRACE_TRACEME, 0, 0, 0)); }
static int do_attach(void)
{
    return outcome("ptrace-attach", ptrace(PTRACE_ATTACH, atoi(arg1), 0, 0));
}

static int do_vm_read(void)
{
    char buffer[256] = {0};
    struct iovec local = {buffer, sizeof buffer - 1};
    struct iovec remote = {(void *)strtoull(arg2, NULL, 0), sizeof buffer - 1};
    ssize_t got = process_vm_readv(atoi(arg1), &local, 1, &remote, 1, 0);
    if (got > 0)
        printf("ESCAPED vm-read got=%zd: %s\n", got, buffer + 32);
    return got > 0 ? 0 : outcome("vm-read", -1);
}

static int do_pidfd(void) { return outcome("pidfd", syscall(SYS_pidfd_open, atoi(arg1), 0)); }

static int do_kill(void)
{
    int rc = kill(atoi(arg1), atoi(arg2));
    printf("RESULT kill %s %s rc=%d errno=%d\n", arg1, arg2, rc, rc < 0 ? errno : 0);
    return 0;
}

/* 12345 is nobody's id here: success means the identity changed (no getuid() needed). */
static int do_setuid(void) { return outcome("setuid", setresuid(12345, 12345, 12345)); }
static int do_setgid(void) { return outcome("setgid", setresgid(12345, 12345, 12345)); }

static int do_setgroups(void)
{
    gid_t groups[1] = {0};
    return outcome("setgroups", setgroups(1, groups));
}

static int do_rlimits(void)
{
    static const int resources[] = {RLIMIT_AS, RLIMIT_NOFILE, RLIMIT_NPROC, RLIMIT_CPU,
                                    RLIMIT_FSIZE, RLIMIT_DATA, RLIMIT_STACK};
    for (size_t i = 0; i < sizeof resources / sizeof *resources; i++) {
        struct rlimit old = {0, 0}, raised = {RLIM_INFINITY, RLIM_INFINITY}, now = {0, 0};
        getrlimit(resources[i], &old);
        int rc = setrlimit(resources[i], &raised);
        getrlimit(resources[i], &now);
        if (rc == 0 && now.rlim_max != old.rlim_max)
            printf("ESCAPED rlimit %d raised from %llu to %llu\n", resources[i],
                   (unsigned long long)old.rlim_max, (unsigned long long)now.rlim_max);
        else
            printf("DENIED rlimit %d errno=%d\n", resources[i], rc < 0 ? errno : 0);
    }
    return 0;
}

static int do_nice(void) { return outcome("nice", setpriority(PRIO_PROCESS, 0, -20)); }
/* Push a character into the input queue of whatever terminal fds 0-2 lead to. */
static int inject(const char *mode, unsigned long request)
{
    char c = 'X';
    for (int fd = 0; fd <= 2; fd++)
        outcome(mode, syscall(SYS_ioctl, fd, request, &c));
    return 0;
}
static int do_tiocsti(void) { return inject("tiocsti", TIOCSTI); }
static int do_tiocsti_hi32(void) { return inject("tiocsti-hi32", (1UL << 32) | TIOCSTI); }
static int do_tty(void) { return outcome("tty", open("/dev/tty", O_RDWR)); }

static const struct { const char *name; int (*run)(void); } attacks[] = {
    {"fork", do_fork}, {"vfork", do_vfork}, {"clone", do_clone}, {"clone3", do_clone3},
    {"exec", do_exec}, {"execveat-fd", do_execveat_fd}, {"memfd-exec", do_memfd_exec},
    {"ptrace-traceme", do_traceme}, {"ptrace-attach", do_attach}, {"vm-read", do_vm_read},
    {"pidfd", do_pidfd}, {"kill", do_kill}, {"setuid", do_setuid}, {"setgid", do_setgid},
    {"setgroups", do_setgroups}, {"rlimits", do_rlimits}, {"nice", do_nice},
    {"tiocsti", do_tiocsti}, {"tiocsti-hi32", do_tiocsti_hi32}, {"tty", do_tty},
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
