/* Show what the program was started with: every argv[i] then every environ entry, each
 * terminated by a NUL byte, on stdout, with the string "::env::" between the two lists.
 * Exits with the value of the environment variable SB_EXIT if set (0 otherwise). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

static void put(const char *s)
{
    size_t len = strlen(s) + 1, done = 0;
    while (done < len) {
        ssize_t n = write(1, s + done, len - done);
        if (n <= 0)
            exit(3);
        done += n;
    }
}

int main(int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        put(argv[i]);
    put("::env::");
    for (char **e = environ; *e; e++)
        put(*e);
    const char *code = getenv("SB_EXIT");
    return code ? atoi(code) : 0;
}
