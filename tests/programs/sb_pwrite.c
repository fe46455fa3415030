/* Random-access writes to /dev/output: pwrite "World" at 6, "Hello," at 0, lseek to 100 and
 * write "end". The file must end up as "Hello,World" + NULs up to offset 100 + "end".
 * Prints "done" on stdout, or the failing step and errno and exits 2. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int fail(const char *step)
{
    printf("failed %s: %s\n", step, strerror(errno));
    return 2;
}

int main(void)
{
    int fd = open("/dev/output", O_WRONLY);
    if (fd < 0)
        return fail("open");
    if (pwrite(fd, "World", 5, 6) != 5)
        return fail("pwrite 6");
    if (pwrite(fd, "Hello,", 6, 0) != 6)
        return fail("pwrite 0");
    if (lseek(fd, 100, SEEK_SET) != 100)
        return fail("lseek");
    if (write(fd, "end", 3) != 3)
        return fail("write");
    if (close(fd) < 0)
        return fail("close");
    puts("done");
    return 0;
}
