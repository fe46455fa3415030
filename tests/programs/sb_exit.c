/* Exit with the status given as argv[1]; print "exiting N" first. */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    int code = argc > 1 ? atoi(argv[1]) : 0;
    printf("exiting %d\n", code);
    return code;
}
