/*
 * wordcount.h: what the word-count mapper, reducer and merge share (header-only, so each
 * program still builds with one command: gcc -static -O2 -o mapper mapper.c).
 *
 * Channels: "/dev/<name>", or "$ZEROCLOUD_DEV_ROOT/<name>" outside the sandbox.
 * Records:  lines "word<TAB>count<LF>"; words never contain TAB, LF or NUL.
 * Instance: $ZEROCLOUD_INSTANCE, else basename(argv[0]) (the job's exec.name).
 * Errors:   "<instance>: <message>" on stderr, exit status 1.
 */
#ifndef WORDCOUNT_H
#define WORDCOUNT_H

#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WC_UNUSED __attribute__((unused))
#define WC_READ_BYTES 65536

static const char *wc_instance = "wordcount";

/* Remember this instance's name for error messages. */
static WC_UNUSED void wc_set_instance(const char *argv0)
{
    const char *env = getenv("ZEROCLOUD_INSTANCE");
    const char *slash = argv0 ? strrchr(argv0, '/') : NULL;
    if (env && *env)
        wc_instance = env;
    else if (argv0 && *argv0)
        wc_instance = slash ? slash + 1 : argv0;
}

/* Print "<instance>: <message>" and exit with status 1. */
static WC_UNUSED __attribute__((noreturn, format(printf, 1, 2))) void wc_die(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", wc_instance);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static WC_UNUSED void *wc_xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (!p)
        wc_die("out of memory (%zu bytes)", size);
    return p;
}

static WC_UNUSED void *wc_xrealloc(void *old, size_t size)
{
    void *p = realloc(old, size ? size : 1);
    if (!p)
        wc_die("out of memory (%zu bytes)", size);
    return p;
}

/* Return a new string: the path of channel NAME (e.g. "in/map-1"), freed by the caller. */
static WC_UNUSED char *wc_dev_path(const char *name)
{
    const char *root = getenv("ZEROCLOUD_DEV_ROOT");
    size_t size;
    char *path;
    if (!root || !*root)
        root = "/dev";
    size = strlen(root) + strlen(name) + 2;
    path = wc_xmalloc(size);
    snprintf(path, size, "%s/%s", root, name);
    return path;
}

static WC_UNUSED int wc_exists(const char *name)
{
    char *path = wc_dev_path(name);
    struct stat st;
    int found = stat(path, &st) == 0;
    free(path);
    return found;
}

/* ---- names of the entries of a channel directory ("in" or "out"), sorted byte-wise ---- */

struct wc_names {
    char **name;
    size_t count;
};

static int wc_strcmp_ptr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static WC_UNUSED struct wc_names wc_list_channels(const char *kind)
{
    struct wc_names names = {NULL, 0};
    char *path = wc_dev_path(kind);
    DIR *dir = opendir(path);
    struct dirent *entry;
    if (!dir) {
        if (errno != ENOENT)
            wc_die("cannot list %s: %s", path, strerror(errno));
        free(path);
        return names;
    }
    while ((entry = readdir(dir)) != NULL) {
        if (entry->d_name[0] == '.')
            continue;
        names.name = wc_xrealloc(names.name, (names.count + 1) * sizeof(char *));
        names.name[names.count++] = strdup(entry->d_name);
    }
    closedir(dir);
    free(path);
    if (names.count)
        qsort(names.name, names.count, sizeof(char *), wc_strcmp_ptr);
    return names;
}

/* ---- zlib's CRC-32 (IEEE 802.3, reflected 0xEDB88320): the stable partitioning hash ---- */

static WC_UNUSED uint32_t wc_crc32(const char *data, size_t len)
{
    static uint32_t table[256];
    static int ready;
    uint32_t crc = 0xFFFFFFFFu;
    if (!ready) {
        for (uint32_t n = 0; n < 256; n++) {
            uint32_t c = n;
            for (int k = 0; k < 8; k++)
                c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            table[n] = c;
        }
        ready = 1;
    }
    for (size_t i = 0; i < len; i++)
        crc = table[(crc ^ (unsigned char)data[i]) & 0xFF] ^ (crc >> 8);
    return crc ^ 0xFFFFFFFFu;
}

/* ---- a word -> count hash table (open addressing, FNV-1a) ---- */

struct wc_entry {
    char *word; /* NUL-terminated, NULL for an empty slot */
    size_t len;
    unsigned long long count;
};

struct wc_table {
    struct wc_entry *slot;
    size_t capacity; /* a power of two */
    size_t used;
};

static uint64_t wc_fnv1a(const char *data, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)data[i]) * 1099511628211ull;
    return h;
}

static WC_UNUSED void wc_table_init(struct wc_table *t)
{
    t->capacity = 1024;
    t->used = 0;
    t->slot = calloc(t->capacity, sizeof(struct wc_entry));
    if (!t->slot)
        wc_die("out of memory");
}

static struct wc_entry *wc_table_find(struct wc_table *t, const char *word, size_t len)
{
    size_t mask = t->capacity - 1;
    size_t i = wc_fnv1a(word, len) & mask;
    while (t->slot[i].word &&
           (t->slot[i].len != len || memcmp(t->slot[i].word, word, len) != 0))
        i = (i + 1) & mask;
    return &t->slot[i];
}

static void wc_table_grow(struct wc_table *t)
{
    struct wc_table bigger = {NULL, t->capacity * 2, 0};
    bigger.slot = calloc(bigger.capacity, sizeof(struct wc_entry));
    if (!bigger.slot)
        wc_die("out of memory");
    for (size_t i = 0; i < t->capacity; i++)
        if (t->slot[i].word)
            *wc_table_find(&bigger, t->slot[i].word, t->slot[i].len) = t->slot[i];
    bigger.used = t->used;
    free(t->slot);
    *t = bigger;
}

/* Add COUNT to WORD (LEN bytes, not necessarily NUL-terminated). */
static WC_UNUSED void wc_table_add(struct wc_table *t, const char *word, size_t len,
                                   unsigned long long count)
{
    struct wc_entry *e = wc_table_find(t, word, len);
    if (!e->word) {
        if ((t->used + 1) * 2 > t->capacity) {
            wc_table_grow(t);
            e = wc_table_find(t, word, len);
        }
        e->word = wc_xmalloc(len + 1);
        memcpy(e->word, word, len);
        e->word[len] = '\0';
        e->len = len;
        e->count = 0;
        t->used++;
    }
    e->count += count;
}

static int wc_by_word(const void *a, const void *b)
{
    return strcmp(((const struct wc_entry *)a)->word, ((const struct wc_entry *)b)->word);
}

static WC_UNUSED int wc_by_count_then_word(const void *a, const void *b)
{
    const struct wc_entry *x = a, *y = b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return strcmp(x->word, y->word);
}

/* Return the table's entries as a new array sorted with CMP (NULL: byte-wise by word). */
static WC_UNUSED struct wc_entry *wc_table_sorted(const struct wc_table *t,
                                                  int (*cmp)(const void *, const void *))
{
    struct wc_entry *list = wc_xmalloc(t->used * sizeof(struct wc_entry));
    size_t n = 0;
    for (size_t i = 0; i < t->capacity; i++)
        if (t->slot[i].word)
            list[n++] = t->slot[i];
    if (n)
        qsort(list, n, sizeof(struct wc_entry), cmp ? cmp : wc_by_word);
    return list;
}

/* Write COUNT entries as "word<TAB>count<LF>" lines to stream OUT named LABEL. */
static WC_UNUSED void wc_write_entries(FILE *out, const char *label,
                                       const struct wc_entry *list, size_t count)
{
    for (size_t i = 0; i < count; i++)
        fprintf(out, "%s\t%llu\n", list[i].word, list[i].count);
    if (fflush(out) != 0 || ferror(out))
        wc_die("cannot write %s: %s", label, strerror(errno));
}

/* Open the existing channel NAME (e.g. "out/merge") for writing, as a stdio stream. */
static WC_UNUSED FILE *wc_open_channel_for_writing(const char *name)
{
    char *path = wc_dev_path(name);
    int fd = open(path, O_WRONLY);
    FILE *out;
    if (fd < 0)
        wc_die("cannot open %s: %s", path, strerror(errno));
    out = fdopen(fd, "w");
    if (!out)
        wc_die("cannot open %s: %s", path, strerror(errno));
    free(path);
    return out;
}

#include "wordcount_records.h"

#endif
