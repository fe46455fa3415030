/* Copy files byte for byte: sb_cat [-o DEST] [SRC...]  (default SRC /dev/stdin, DEST /dev/stdout).
 * Exit 0 on success, 2 with a message on stderr when a channel cannot be opened, read or written. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static char buffer[1 << 20];

static int copy(int in, int out)
{
    for (;;) {
        ssize_t got = read(in, buffer, sizeof buffer);
        if (got == 0)
            return 0;
        if (got < 0)
            return -1;
        for (ssize_t done = 0; done < got;) {
            ssize_t put = write(out, buffer + done, got - done);
            if (put <= 0)
                return -1;
            done += put;
        }
    }
}

int main(int argc, char **argv)
{
    const char *dest = "/dev/stdout";
    int first = 1;
    if (argc > 2 && strcmp(argv[1], "-o") == 0) {
        dest = argv[2];
        first = 3;
    }
    int out = open(dest, O_WRONLY);
    if (out < 0) {
        fprintf(stderr, "sb_cat: cannot open %s: %s\n", dest, strerror(errno));
        return 2;
    }
    if (first == argc && copy(0, out) < 0) {
        fprintf(stderr, "sb_cat: stdin: %s\n", strerror(errno));
        return 2;
    }
    for (int i = first; i < argc; i++) {
        int in = open(argv[i], O_RDONLY);
        if (in < 0 || copy(in, out) < 0) {
            fprintf(stderr, "sb_cat: %s: %s\n", argv[i], strerror(errno));
            return 2;
        }
        close(in);
    }
    return close(out) < 0 ? 2 : 0;
}
