/*
 * Word-count reducer: merge the partial counts every mapper sent to this instance.
 * Build: gcc -static -O2 -o reducer reducer.c
 *
 * Reads every /dev/in/<mapper> stream ("word<TAB>count<LF>" lines) at the same time with
 * poll (standard input when there is no /dev/in channel), adds equal words, and writes the
 * table sorted by word to the single /dev/out channel, or to standard output when there is
 * none.  A malformed line is reported with its channel and line number (exit status 1).
 * Same contract as python/reducer.py.
 */
#include "wordcount.h"

int main(int argc, char **argv)
{
    struct wc_table table;
    struct wc_names outputs;
    struct wc_entry *sorted;
    (void)argc;
    wc_set_instance(argv[0]);
    wc_table_init(&table);
    wc_read_inputs(&table);
    outputs = wc_list_channels("out");
    if (outputs.count > 1)
        wc_die("expected at most one /dev/out channel, found %zu", outputs.count);
    sorted = wc_table_sorted(&table, NULL);
    if (outputs.count == 0) {
        wc_write_entries(stdout, "stdout", sorted, table.used);
    } else {
        size_t size = strlen(outputs.name[0]) + 5;
        char *rel = wc_xmalloc(size);
        FILE *out;
        snprintf(rel, size, "out/%s", outputs.name[0]);
        out = wc_open_channel_for_writing(rel);
        wc_write_entries(out, rel, sorted, table.used);
        if (fclose(out) != 0)
            wc_die("cannot write /dev/%s: %s", rel, strerror(errno));
        free(rel);
    }
    return 0;
}
