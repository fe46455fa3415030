/*
 * wordcount_records.h: read "word<TAB>count<LF>" streams from every /dev/in channel at the
 * same time (poll), adding their counts into a table.  Included by wordcount.h.
 */
#ifndef WORDCOUNT_RECORDS_H
#define WORDCOUNT_RECORDS_H

struct wc_stream {
    int fd;
    char *label;    /* "/dev/in/map-1" or "stdin", for error messages */
    char *pending;  /* the partial last line */
    size_t pending_len, pending_cap;
    unsigned long line; /* number of the next line */
};

/* Parse one complete line (without its LF) and add it to T, or die naming the line. */
static void wc_add_record(struct wc_table *t, struct wc_stream *s, const char *line, size_t len)
{
    const char *tab = memchr(line, '\t', len);
    unsigned long long count = 0;
    size_t digits;
    if (!tab || tab == line || tab + 1 == line + len)
        wc_die("%s line %lu: expected \"word<TAB>count\"", s->label, s->line);
    digits = (size_t)(line + len - (tab + 1));
    for (size_t i = 0; i < digits; i++) {
        char c = tab[1 + i];
        if (c < '0' || c > '9')
            wc_die("%s line %lu: count is not a number", s->label, s->line);
        count = count * 10 + (unsigned long long)(c - '0');
    }
    if (memchr(line, '\0', (size_t)(tab - line)))
        wc_die("%s line %lu: NUL byte in word", s->label, s->line);
    wc_table_add(t, line, (size_t)(tab - line), count);
    s->line++;
}

/* Append DATA to S's pending bytes and add every complete line to T. */
static void wc_feed(struct wc_table *t, struct wc_stream *s, const char *data, size_t len)
{
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        if (data[i] != '\n')
            continue;
        if (s->pending_len) {
            size_t part = i - start;
            if (s->pending_len + part > s->pending_cap) {
                s->pending_cap = (s->pending_len + part) * 2;
                s->pending = wc_xrealloc(s->pending, s->pending_cap);
            }
            memcpy(s->pending + s->pending_len, data + start, part);
            wc_add_record(t, s, s->pending, s->pending_len + part);
            s->pending_len = 0;
        } else {
            wc_add_record(t, s, data + start, i - start);
        }
        start = i + 1;
    }
    if (start < len) {
        size_t rest = len - start;
        if (s->pending_len + rest > s->pending_cap) {
            s->pending_cap = (s->pending_len + rest) * 2;
            s->pending = wc_xrealloc(s->pending, s->pending_cap);
        }
        memcpy(s->pending + s->pending_len, data + start, rest);
        s->pending_len += rest;
    }
}

/* Open every /dev/in channel non-blocking (standard input when there is none). */
static size_t wc_open_inputs(struct wc_stream **out)
{
    struct wc_names names = wc_list_channels("in");
    size_t n = names.count ? names.count : 1;
    struct wc_stream *s = calloc(n, sizeof(struct wc_stream));
    if (!s)
        wc_die("out of memory");
    if (!names.count) {
        s[0].fd = 0;
        s[0].label = strdup("stdin");
        s[0].line = 1;
    }
    for (size_t i = 0; i < names.count; i++) {
        size_t size = strlen(names.name[i]) + 4;
        char *rel = wc_xmalloc(size);
        char *path;
        snprintf(rel, size, "in/%s", names.name[i]);
        path = wc_dev_path(rel);
        s[i].fd = open(path, O_RDONLY | O_NONBLOCK);
        if (s[i].fd < 0)
            wc_die("cannot open %s: %s", path, strerror(errno));
        s[i].label = wc_xmalloc(size + 5);
        snprintf(s[i].label, size + 5, "/dev/%s", rel);
        s[i].line = 1;
        free(rel);
        free(path);
        free(names.name[i]);
    }
    free(names.name);
    *out = s;
    return n;
}

/* Read every input channel to EOF concurrently, adding all records into T. */
static WC_UNUSED void wc_read_inputs(struct wc_table *t)
{
    struct wc_stream *s;
    size_t n = wc_open_inputs(&s), open_count = n;
    struct pollfd *fds = wc_xmalloc(n * sizeof(struct pollfd));
    char *buf = wc_xmalloc(WC_READ_BYTES);
    for (size_t i = 0; i < n; i++) {
        fds[i].fd = s[i].fd;
        fds[i].events = POLLIN;
    }
    while (open_count) {
        if (poll(fds, n, -1) < 0) {
            if (errno == EINTR)
                continue;
            wc_die("poll: %s", strerror(errno));
        }
        for (size_t i = 0; i < n; i++) {
            ssize_t got;
            if (fds[i].fd < 0 || !fds[i].revents)
                continue;
            got = read(fds[i].fd, buf, WC_READ_BYTES);
            if (got < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            if (got < 0)
                wc_die("cannot read %s: %s", s[i].label, strerror(errno));
            if (got > 0) {
                wc_feed(t, &s[i], buf, (size_t)got);
                continue;
            }
            if (s[i].pending_len)
                wc_die("%s line %lu: missing final newline", s[i].label, s[i].line);
            if (fds[i].fd != 0)
                close(fds[i].fd);
            fds[i].fd = -1; /* poll ignores negative fds */
            open_count--;
        }
    }
    for (size_t i = 0; i < n; i++) {
        free(s[i].label);
        free(s[i].pending);
    }
    free(s);
    free(fds);
    free(buf);
}

#endif
