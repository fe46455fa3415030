/* Write an exact number of bytes: sb_write PATH COUNT [CHUNK] [stop|ignore]
 * Opens PATH write-only (it must exist: a channel) and writes COUNT bytes of 'w' in write()
 * calls of at most CHUNK bytes (default 65536, at most 4 MiB), retrying what a short write
 * left, as stdio does.  On a failed write: "stop" (default) prints "failed after N bytes
 * errno E" on stderr and exits 1; "ignore" keeps trying the same write (a program that
 * ignores errors) until the session is ended.  Success prints "wrote N" on stderr, exit 0. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char block[4 << 20];   /* writes of up to 4 MiB at once */

int main(int argc, char **argv)
{
    if (argc < 3)
        return 64;
    long long count = atoll(argv[2]), done = 0;
    long chunk = argc > 3 ? atol(argv[3]) : 65536;
    int ignore = argc > 4 && !strcmp(argv[4], "ignore");
    if (chunk <= 0 || chunk > (long)sizeof block)
        return 64;
    memset(block, 'w', sizeof block);
    int fd = open(argv[1], O_WRONLY);
    if (fd < 0) {
        fprintf(stderr, "open %s errno %d\n", argv[1], errno);
        return 2;
    }
    while (done < count) {
        long want = count - done < chunk ? (long)(count - done) : chunk;
        ssize_t put = write(fd, block, want);
        if (put > 0) {
            done += put;
            continue;
        }
        if (ignore)
            continue;
        fprintf(stderr, "failed after %lld bytes errno %d\n", done, errno);
        return 1;
    }
    fprintf(stderr, "wrote %lld\n", done);
    return 0;
}
