/* Count lines, words and bytes of stdin like `wc`; print "LINES WORDS BYTES\n". */
#include <ctype.h>
#include <stdio.h>
#include <unistd.h>

int main(void)
{
    static unsigned char buffer[65536];
    long long lines = 0, words = 0, bytes = 0;
    int in_word = 0;
    ssize_t got;
    while ((got = read(0, buffer, sizeof buffer)) > 0) {
        bytes += got;
        for (ssize_t i = 0; i < got; i++) {
            if (buffer[i] == '\n')
                lines++;
            if (isspace(buffer[i]))
                in_word = 0;
            else if (!in_word) {
                in_word = 1;
                words++;
            }
        }
    }
    if (got < 0)
        return 2;
    printf("%lld %lld %lld\n", lines, words, bytes);
    return 0;
}
