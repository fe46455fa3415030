/*
 * Word-count mapper: count the words of one object and send each reducer its share.
 * Build: gcc -static -O2 -o mapper mapper.c   (or musl-gcc -static -O2 ...)
 *
 * Input: /dev/input if present, otherwise standard input (the object).
 * Words: ASCII-lower-cased text; a word is a maximal run of [a-z0-9'] with its leading and
 * trailing apostrophes removed (empty runs dropped); any other byte separates words.
 * Output: the entries of /dev/out sorted byte-wise are partitions 0..R-1; word w goes to
 * partition crc32(w) % R (zlib's CRC-32), written as "word<TAB>count<LF>" lines sorted by
 * word, then the channel is closed.  No /dev/out channel: the whole table goes to stdout.
 * Same contract as python/mapper.py; the two produce identical bytes.
 */
#include "wordcount.h"

struct word_buffer {
    char *data;
    size_t len, cap;
};

static int is_word_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '\'';
}

/* Add the buffered run (apostrophes trimmed) to T, then empty the buffer. */
static void flush_word(struct wc_table *t, struct word_buffer *w)
{
    size_t start = 0, end = w->len;
    while (start < end && w->data[start] == '\'')
        start++;
    while (end > start && w->data[end - 1] == '\'')
        end--;
    if (end > start)
        wc_table_add(t, w->data + start, end - start, 1);
    w->len = 0;
}

/* Count the words read from FD into T. */
static void count_words(int fd, struct wc_table *t)
{
    unsigned char *buf = wc_xmalloc(WC_READ_BYTES);
    struct word_buffer w = {wc_xmalloc(64), 0, 64};
    for (;;) {
        ssize_t got = read(fd, buf, WC_READ_BYTES);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            wc_die("cannot read the input: %s", strerror(errno));
        if (got == 0)
            break;
        for (ssize_t i = 0; i < got; i++) {
            unsigned char c = buf[i];
            if (c >= 'A' && c <= 'Z')
                c = (unsigned char)(c + ('a' - 'A'));
            if (!is_word_byte(c)) {
                if (w.len)
                    flush_word(t, &w);
                continue;
            }
            if (w.len == w.cap)
                w.data = wc_xrealloc(w.data, w.cap *= 2);
            w.data[w.len++] = (char)c;
        }
    }
    flush_word(t, &w);
    free(w.data);
    free(buf);
}

/* The object to count: /dev/input when present, else standard input. */
static int open_input(void)
{
    char *path;
    int fd;
    if (wc_exists("input"))
        path = wc_dev_path("input");
    else if (getenv("ZEROCLOUD_DEV_ROOT") && wc_exists("stdin"))
        path = wc_dev_path("stdin");
    else
        return 0;
    fd = open(path, O_RDONLY);
    if (fd < 0)
        wc_die("cannot open %s: %s", path, strerror(errno));
    free(path);
    return fd;
}

/* Write the entries of the sorted LIST whose partition is P to channel NAME. */
static void send_partition(const struct wc_entry *list, const size_t *partition, size_t n,
                           size_t p, const char *name)
{
    size_t size = strlen(name) + 5;
    char *rel = wc_xmalloc(size);
    FILE *out;
    snprintf(rel, size, "out/%s", name);
    out = wc_open_channel_for_writing(rel);
    for (size_t i = 0; i < n; i++)
        if (partition[i] == p)
            fprintf(out, "%s\t%llu\n", list[i].word, list[i].count);
    if (fclose(out) != 0)
        wc_die("cannot write /dev/%s: %s", rel, strerror(errno));
    free(rel);
}

int main(int argc, char **argv)
{
    struct wc_table table;
    struct wc_names reducers;
    struct wc_entry *sorted;
    int fd;
    (void)argc;
    wc_set_instance(argv[0]);
    wc_table_init(&table);
    fd = open_input();
    count_words(fd, &table);
    if (fd != 0)
        close(fd);
    sorted = wc_table_sorted(&table, NULL);
    reducers = wc_list_channels("out");
    if (!reducers.count)
        wc_write_entries(stdout, "stdout", sorted, table.used);
    if (reducers.count) {
        size_t *partition = wc_xmalloc(table.used * sizeof(size_t));
        for (size_t i = 0; i < table.used; i++)
            partition[i] = wc_crc32(sorted[i].word, sorted[i].len) % reducers.count;
        for (size_t p = 0; p < reducers.count; p++)
            send_partition(sorted, partition, table.used, p, reducers.name[p]);
    }
    return 0;
}
