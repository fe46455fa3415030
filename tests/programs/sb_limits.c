/* Resource abuse, one kind per run: sb_limits MODE [ARG] [TOKEN]
 *   membomb        allocate and touch 1 MiB blocks forever, printing "touched N MiB" every
 *                  8 MiB; no NULL check (a naive program: it faults when allocation fails)
 *   membomb-raise  first try to lift RLIMIT_AS/RLIMIT_DATA to infinity, then membomb
 *   forkbomb       fork forever in every process, ignoring errors
 *   cpu            spin forever
 *   sleep          sleep forever
 *   flood PATH     write 64 KiB blocks to PATH forever, ignoring errors
 *   fds            dup(0) until it fails; print "fds N errno E"
 * The extra TOKEN argument only marks the processes so a test can look for leftovers. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static void membomb(void)
{
    for (long mib = 1;; mib++) {
        char *p = malloc(1 << 20);
        memset(p, 1, 1 << 20);
        if (mib % 8 == 0)
            printf("touched %ld MiB\n", mib);
    }
}

static void raise_memory_limits(void)
{
    struct rlimit unlimited = {RLIM_INFINITY, RLIM_INFINITY};
    setrlimit(RLIMIT_AS, &unlimited);
    setrlimit(RLIMIT_DATA, &unlimited);
}

static void flood(const char *path)
{
    static char block[65536];
    memset(block, 'F', sizeof block);
    int fd = open(path, O_WRONLY);
    for (;;)
        write(fd, block, sizeof block);
}

static int fds(void)
{
    long count = 0;
    while (dup(0) >= 0)
        count++;
    printf("fds %ld errno %d\n", count, errno);
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    const char *mode = argc > 1 ? argv[1] : "";
    if (!strcmp(mode, "membomb"))
        membomb();
    if (!strcmp(mode, "membomb-raise")) {
        raise_memory_limits();
        membomb();
    }
    if (!strcmp(mode, "forkbomb"))
        for (;;)
            fork();
    if (!strcmp(mode, "cpu"))
        for (volatile unsigned long i = 0;; i++)
            ;
    if (!strcmp(mode, "sleep"))
        for (;;)
            sleep(1000);
    if (!strcmp(mode, "flood") && argc > 2)
        flood(argv[2]);
    if (!strcmp(mode, "fds"))
        return fds();
    return 64;
}
