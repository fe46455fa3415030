/* The classic: a 32-bit system call entry in main.  The validator rejects it with
 * "`int 0x80` at 0x... in main". */
#include <stdio.h>

int main(int argc, char **argv)
{
    (void)argv;
    if (argc > 1000)  /* never */
        __asm__ volatile("int $0x80" ::: "memory");
    puts("hello");
    return 0;
}
