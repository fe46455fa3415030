/* A program that must never run inside a session except as the session's own program:
 * tests hand it in as data and check that exec'ing it from the jail fails. */
#include <stdio.h>

int main(void)
{
    puts("ESCAPED marker program executed");
    return 77;
}
