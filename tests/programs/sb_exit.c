/* Exit with the status given as argv[1] after printing "exiting N"; or die by a signal:
 * argv[1] "segv" writes through a NULL pointer, "abort" calls abort(). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    const char *how = argc > 1 ? argv[1] : "0";
    setvbuf(stdout, NULL, _IONBF, 0);
    if (!strcmp(how, "segv")) {
        puts("crashing");
        *(volatile int *)0 = 1;
    }
    if (!strcmp(how, "abort")) {
        puts("aborting");
        abort();
    }
    int code = atoi(how);
    printf("exiting %d\n", code);
    return code;
}
