/* A visible far return (`lretq`) to the 32-bit code segment 0x23: the validator must reject it.
 * If it ever runs, it writes "RAN" to /dev/output and stdout first, then switches mode and
 * crashes (the 32-bit target is a `hlt`). */
#include <fcntl.h>
#include <unistd.h>

__asm__(".text\n"
        ".globl lret_target\n"
        "lret_target:\n"
        "  hlt\n");

extern char lret_target[];

int main(void)
{
    int fd = open("/dev/output", O_WRONLY);
    if (fd >= 0)
        write(fd, "RAN\n", 4);
    write(1, "RAN\n", 4);
    __asm__ volatile("push $0x23\n\t"
                     "push %%rax\n\t"
                     "lretq"
                     :
                     : "a"(lret_target)
                     : "memory");
    return 0;
}
