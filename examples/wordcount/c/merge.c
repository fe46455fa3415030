/*
 * Word-count merge (the "manager"): combine the reducers' tables and print the top words.
 * Build: gcc -static -O2 -o merge merge.c
 * Usage: merge [TOP]   (default 10)
 *
 * Reads every /dev/in/<reducer> stream at the same time with poll (standard input when there
 * is no /dev/in channel), adds the counts, and prints the TOP most frequent words as
 * "word<TAB>count" lines by decreasing count then byte-wise word order.  When /dev/output
 * exists, the whole table sorted by word is written there too.  Same contract as
 * python/merge.py (bad TOP: exit status 2; malformed input: 1).
 */
#include "wordcount.h"

#define DEFAULT_TOP 10

/* Parse TOP: a positive decimal integer, or exit with status 2 naming the problem. */
static size_t parse_top(int argc, char **argv)
{
    size_t top = 0;
    if (argc > 2) {
        fprintf(stderr, "%s: usage: merge [TOP]\n", wc_instance);
        exit(2);
    }
    if (argc < 2)
        return DEFAULT_TOP;
    for (const char *c = argv[1]; *c; c++) {
        if (*c < '0' || *c > '9' || top > 100000000) {
            top = 0;
            break;
        }
        top = top * 10 + (size_t)(*c - '0');
    }
    if (top == 0) {
        fprintf(stderr, "%s: TOP must be a positive integer, got '%s'\n", wc_instance, argv[1]);
        exit(2);
    }
    return top;
}

int main(int argc, char **argv)
{
    struct wc_table table;
    struct wc_entry *ranked;
    size_t top;
    wc_set_instance(argv[0]);
    top = parse_top(argc, argv);
    wc_table_init(&table);
    wc_read_inputs(&table);
    ranked = wc_table_sorted(&table, wc_by_count_then_word);
    wc_write_entries(stdout, "stdout", ranked, top < table.used ? top : table.used);
    if (wc_exists("output")) {
        struct wc_entry *sorted = wc_table_sorted(&table, NULL);
        FILE *out = wc_open_channel_for_writing("output");
        wc_write_entries(out, "/dev/output", sorted, table.used);
        if (fclose(out) != 0)
            wc_die("cannot write /dev/output: %s", strerror(errno));
    }
    return 0;
}
