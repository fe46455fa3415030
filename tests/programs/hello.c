/* The smallest well-behaved program: prints a greeting, exits 0. */
#include <stdio.h>

int main(void)
{
    puts("hello, world");
    return 0;
}
