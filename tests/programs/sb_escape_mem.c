/* Attempts to obtain memory that is both written by the program and executable (W^X), one
 * route per run: sb_escape_mem MODE. Code is written into memory, the route tries to make it
 * executable, then the program calls it (a SIGSEGV while calling means "not executable").
 * Prints "DENIED <mode> ..." when the route failed and "ESCAPED <mode> ..." when freshly written
 * code ran. Mode int80-generated writes `int 0x80` code at run time (the validator never sees
 * it) and tries mprotect and an RWX mapping: the i386 system call must never return.
 * Modes: mmap-rwx | mprotect-exec | personality-rie | pkey-mprotect | memfd-mmap |
 *        channel-mmap | stack-exec | shm-exec | int80-generated */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <unistd.h>

/* mov eax, 1337 ; ret */
static const unsigned char code_1337[] = {0xb8, 0x39, 0x05, 0x00, 0x00, 0xc3};
/* mov eax, 20 (i386 getpid) ; int 0x80 ; ret */
static const unsigned char code_int80[] = {0xb8, 0x14, 0x00, 0x00, 0x00, 0xcd, 0x80, 0xc3};

static sigjmp_buf on_fault;

static void fault(int sig)
{
    siglongjmp(on_fault, sig);
}

/* Call code at p; report ESCAPED if it ran, DENIED if it faulted. */
static int try_call(const char *mode, void *p)
{
    struct sigaction action = {.sa_handler = fault, .sa_flags = SA_NODEFER};
    sigaction(SIGSEGV, &action, NULL);
    sigaction(SIGBUS, &action, NULL);
    int sig = sigsetjmp(on_fault, 1);
    if (sig) {
        printf("DENIED %s: memory not executable (signal %d)\n", mode, sig);
        return 0;
    }
    int value = ((int (*)(void))p)();
    printf("ESCAPED %s: written code ran, returned %d\n", mode, value);
    return 0;
}

static int denied(const char *mode, const char *step)
{
    printf("DENIED %s: %s errno=%d\n", mode, step, errno);
    return 0;
}

static void *rw_page(const void *code, size_t size)
{
    void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p != MAP_FAILED)
        memcpy(p, code, size);
    return p;
}

static int via_file(const char *mode, int fd, int flags)
{
    if (fd < 0)
        return denied(mode, "open");
    if (write(fd, code_1337, sizeof code_1337) != sizeof code_1337)
        return denied(mode, "write");
    void *p = mmap(NULL, 4096, PROT_READ | PROT_EXEC, flags, fd, 0);
    if (p == MAP_FAILED)
        return denied(mode, "mmap");
    return try_call(mode, p);
}

static int run(const char *mode)
{
    if (!strcmp(mode, "mmap-rwx")) {
        void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            return denied(mode, "mmap");
        memcpy(p, code_1337, sizeof code_1337);
        return try_call(mode, p);
    }
    if (!strcmp(mode, "mprotect-exec")) {
        void *p = rw_page(code_1337, sizeof code_1337);
        if (mprotect(p, 4096, PROT_READ | PROT_EXEC) < 0)
            return denied(mode, "mprotect");
        return try_call(mode, p);
    }
    if (!strcmp(mode, "personality-rie")) {
        if (personality(READ_IMPLIES_EXEC) < 0)
            return denied(mode, "personality");
        return try_call(mode, rw_page(code_1337, sizeof code_1337));
    }
    if (!strcmp(mode, "pkey-mprotect")) {
        void *p = rw_page(code_1337, sizeof code_1337);
        if (syscall(SYS_pkey_mprotect, p, 4096, PROT_READ | PROT_EXEC, -1) < 0)
            return denied(mode, "pkey_mprotect");
        return try_call(mode, p);
    }
    if (!strcmp(mode, "memfd-mmap"))
        return via_file(mode, syscall(SYS_memfd_create, "x", 0), MAP_SHARED);
    if (!strcmp(mode, "channel-mmap"))
        return via_file(mode, open("/dev/output", O_RDWR), MAP_SHARED);
    if (!strcmp(mode, "stack-exec")) {
        unsigned char on_stack[64];
        memcpy(on_stack, code_1337, sizeof code_1337);
        return try_call(mode, on_stack);
    }
    if (!strcmp(mode, "shm-exec")) {
        int id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0700);
        if (id < 0)
            return denied(mode, "shmget");
        void *p = shmat(id, NULL, SHM_EXEC);
        if (p == (void *)-1)
            return denied(mode, "shmat");
        memcpy(p, code_1337, sizeof code_1337);
        return try_call(mode, p);
    }
    if (!strcmp(mode, "int80-generated")) {
        void *p = rw_page(code_int80, sizeof code_int80);
        if (mprotect(p, 4096, PROT_READ | PROT_EXEC) < 0) {
            p = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (p == MAP_FAILED)
                return denied(mode, "no executable memory");
            memcpy(p, code_int80, sizeof code_int80);
        }
        return try_call(mode, p);
    }
    return 64;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    return argc > 1 ? run(argv[1]) : 64;
}
