/* An executable with a plain `int 0x80` (the i386 system-call gate): the validator must reject
 * it before it runs. If it does run, it first writes "RAN" to /dev/output and stdout (proof that
 * it ran), then calls i386 write(1, ...) through `int 0x80`, which the run-time policy must kill. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char message[] = "ESCAPED int 0x80 write\n";

int main(void)
{
    int fd = open("/dev/output", O_WRONLY);
    if (fd >= 0)
        write(fd, "RAN\n", 4);
    write(1, "RAN\n", 4);
    long rc;
    __asm__ volatile("int $0x80"
                     : "=a"(rc)
                     : "a"(4), "b"(1), "c"(message), "d"(sizeof message - 1)
                     : "memory");
    printf("ESCAPED int 0x80 returned %ld\n", rc);
    return 0;
}
