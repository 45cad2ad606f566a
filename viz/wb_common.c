/* wb_common.c - workbench log, number formatting, header/status/help views
 * and the screen dispatcher. */
#include "workbench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void wb_log_add(wb_log *log, wb_log_kind kind, const char *text)
{
    /* one entry per line of text */
    const char *p = text;
    do {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        if (!nl && n == 0 && p != text)
            break;
        char *line = malloc(n + 1);
        if (!line)
            return;
        memcpy(line, p, n);
        line[n] = '\0';
        int slot;
        if (log->count == WB_LOG_LINES) {
            slot = log->head;
            free(log->lines[slot]);
            log->head = (log->head + 1) % WB_LOG_LINES;
        } else {
            slot = (log->head + log->count) % WB_LOG_LINES;
            log->count++;
        }
        log->lines[slot] = line;
        log->kinds[slot] = (unsigned char)kind;
        p = nl ? nl + 1 : p + n;
    } while (*p);
}

void wb_log_clear(wb_log *log)
{
    for (int i = 0; i < log->count; i++)
        free(log->lines[(log->head + i) % WB_LOG_LINES]);
    log->head = log->count = 0;
}

const char *wb_log_line(const wb_log *log, int i, wb_log_kind *kind)
{
    int slot = (log->head + i) % WB_LOG_LINES;
    if (kind)
        *kind = (wb_log_kind)log->kinds[slot];
    return log->lines[slot];
}

int wb_text_elide(tui_grid *g, int x, int y, int w, int style, const char *text)
{
    int cells = tui_text_width(text);
    if (w <= 0 || cells <= w)
        return tui_text(g, x, y, w, style, text);
    if (w < 4)
        return tui_text(g, x, y, w, style, text);
    /* a third for the head, the rest (the distinguishing end) for the tail */
    int head = (w - 1) / 3, tail = w - 1 - head;
    /* a layer number before the last dotted part that the tail would lose
     * ("encoder_layer_11" in "...encoder_layer_11.self_attention.in_proj")
     * is kept instead of the head: "…layer_11…tion.in_proj" (ASCII names) */
    int len = (int)strlen(text);
    const char *dot = strrchr(text, '.');
    int ascii = len == cells;
    if (ascii && dot && w >= 16) {
        int d_end = -1;
        for (int i = (int)(dot - text) - 1; i >= 0; i--)
            if (text[i] >= '0' && text[i] <= '9') {
                d_end = i + 1;
                break;
            }
        if (d_end > 0 && d_end <= len - tail) {
            /* the number and a few letters before it, then the end; the
             * end (under 2/3 of w) starts after the number, which the
             * plain tail (2/3 of w) already missed */
            int num = w / 3 < d_end ? w / 3 : d_end;
            int rest = w - 2 - num;
            char buf[NM_NAME_MAX * 2 + 8];
            if (num > 0 && rest > 0 && len - rest >= d_end && num + rest + 8 < (int)sizeof buf) {
                snprintf(buf, sizeof buf, "%s%.*s%s%s", g->utf8 ? "\u2026" : "~", num, text + d_end - num,
                         g->utf8 ? "\u2026" : "~", text + len - rest);
                return tui_text(g, x, y, w, style, buf);
            }
        }
    }
    const char *p = text;
    int skip = cells - tail; /* code points before the tail */
    for (int i = 0; i < skip && *p; i++)
        do
            p++;
        while (((unsigned char)*p & 0xC0) == 0x80);
    int n = tui_text(g, x, y, head, style, text);
    n += tui_text(g, x + head, y, 1, style, g->utf8 ? "\u2026" : "~");
    n += tui_text(g, x + head + 1, y, tail, style, p);
    return n;
}

const char *wb_human(double v, char *buf, int len)
{
    static const char *units[] = {"", " k", " M", " G", " T"};
    int u = 0;
    double a = v < 0 ? -v : v;
    while (a >= 1000 && u < 4) {
        a /= 1000;
        v /= 1000;
        u++;
    }
    if (u == 0)
        snprintf(buf, (size_t)len, "%.0f", v);
    else
        snprintf(buf, (size_t)len, a >= 100 ? "%.0f%s" : a >= 10 ? "%.1f%s" : "%.2f%s", v, units[u]);
    return buf;
}

static const char *screen_names[WB_SCREEN_COUNT] = {
    "1 Layers", "2 Mask", "3 Activations", "4 Array", "5 Energy", "6 Console", "7 Runs"};

void wb_layer_stats(const wb_state *s, int i, nm_layer_stats *out)
{
    if (s->stats)
        *out = s->stats[i];
    else
        nm_layer_stats_get(s->model, i, out);
}

void wb_base_stats(const wb_state *s, int i, nm_layer_stats *out)
{
    if (s->base_stats)
        *out = s->base_stats[i];
    else
        nm_layer_stats_get(s->base, i, out);
}

void view_header(tui_grid *g, const wb_state *s)
{
    tui_fill(g, 0, 0, g->w, 1, ' ', TUI_S_HEADER);
    int x = tui_text(g, 0, 0, 0, TUI_S_HEADER, " nmlab ");
    for (int i = 0; i < WB_SCREEN_COUNT; i++) {
        int style = (int)s->screen == i ? TUI_S_SELECTED : TUI_S_HEADER;
        x += tui_printf(g, x, 0, 0, style, (int)s->screen == i ? "[%s]" : " %s ", screen_names[i]);
    }
    if (s->model) {
        char macs[32];
        int64_t p = nm_model_params(s->model);
        int64_t nz = 0, params = 0;
        for (int i = 0; i < s->model->n_layers; i++) {
            nm_layer_stats st;
            wb_layer_stats(s, i, &st);
            nz += st.nonzeros;
            params += st.params;
        }
        char line[320];
        snprintf(line, sizeof line, " %s%s  %s params  %s MACs  density %.1f%%  %s", s->present ? "[presentation] " : "",
                 s->model->name,
                 wb_human((double)p, (char[32]){0}, 32),
                 wb_human((double)nm_model_dense_macs(s->model), macs, sizeof macs),
                 params ? 100.0 * (double)nz / (double)params : 100.0, s->settings);
        tui_fill(g, 0, 1, g->w, 1, ' ', TUI_S_DIM);
        tui_text(g, 0, 1, 0, TUI_S_DIM, line);
    }
}

void view_fkeys(tui_grid *g, const wb_key_help *keys, int n)
{
    int y = g->h - 1, x = 0;
    tui_fill(g, 0, y, g->w, 1, ' ', TUI_S_HEADER);
    for (int i = 0; keys && i < n; i++) {
        if (!keys[i].fkey || !keys[i].bar)
            continue;
        x += tui_text(g, x, y, 0, TUI_S_NORMAL, keys[i].fkey);
        x += tui_text(g, x, y, 0, TUI_S_HEADER, keys[i].bar);
        x += tui_text(g, x, y, 0, TUI_S_HEADER, " ");
    }
}

/* The status line, just above the function-key bar. */
void view_status(tui_grid *g, const wb_state *s)
{
    int y = g->h - 2;
    tui_fill(g, 0, y, g->w, 1, ' ', TUI_S_HEADER);
    if (s->busy) {
        int bw = 20, x = 1;
        tui_text(g, x, y, 0, TUI_S_HEADER, s->progress_what[0] ? s->progress_what : "running");
        x += tui_text_width(s->progress_what[0] ? s->progress_what : "running") + 1;
        double f = s->progress < 0 ? 0 : s->progress > 1 ? 1 : s->progress;
        int full = (int)(f * bw + 0.5);
        for (int i = 0; i < bw; i++)
            tui_put(g, x + i, y, i < full ? tui_glyph_block(g, 1) : (g->utf8 ? 0x2591 : '.'),
                    i < full ? TUI_S_BAR : TUI_S_BAR_BG);
        x += bw;
        tui_printf(g, x, y, 0, TUI_S_HEADER, " %3.0f%%  Ctrl-C cancels  %s", f * 100, s->status);
    } else {
        tui_printf(g, 0, y, 0, TUI_S_HEADER, " %s", s->status[0] ? s->status : "F1 or ? help  F10 or q quit");
    }
}

/* Splits text into lines of at most w cells at spaces and '\n' (a word
 * longer than w is cut); calls back with each line. Returns the count. */
static int wrap_lines(const char *text, int w, tui_grid *g, int x, int y, int max_lines, int style)
{
    int n = 0;
    const char *p = text;
    while (*p && n < max_lines) {
        const char *end = p, *brk = NULL;
        int cells = 0;
        while (*end && *end != '\n' && cells < w) {
            if (*end == ' ')
                brk = end;
            if (((unsigned char)*end & 0xC0) != 0x80)
                cells++;
            end++;
        }
        /* end is past the last byte that fits; include its UTF-8 tail */
        while (((unsigned char)*end & 0xC0) == 0x80)
            end++;
        if (*end && *end != '\n' && *end != ' ' && brk && brk > p)
            end = brk;
        char line[512];
        int len = (int)(end - p) < 511 ? (int)(end - p) : 511;
        memcpy(line, p, (size_t)len);
        line[len] = '\0';
        if (g)
            tui_text(g, x, y + n, w, style, line);
        n++;
        p = end;
        if (*p == '\n' || *p == ' ')
            p++;
    }
    return n;
}

void view_alert(tui_grid *g, const wb_state *s)
{
    if (!s->alert[0] && !s->alert_title[0])
        return;
    int w = g->w - 8 < 76 ? g->w - 8 : 76;
    if (w < 20)
        w = g->w;
    int tw = w - 4, max_lines = g->h - 8 > 1 ? g->h - 8 : 1;
    int n = wrap_lines(s->alert, tw, NULL, 0, 0, max_lines, 0);
    int h = n + 5, x = (g->w - w) / 2, y = (g->h - h) / 2;
    if (y < 1)
        y = 1;
    tui_fill(g, x, y, w, h, ' ', TUI_S_NORMAL);
    tui_fill(g, x, y, w, 1, ' ', TUI_S_BAD);
    tui_text(g, x + 1, y, w - 2, TUI_S_BAD, s->alert_title);
    wrap_lines(s->alert, tw, g, x + 2, y + 2, max_lines, TUI_S_NORMAL);
    tui_text(g, x + 2, y + h - 2, w - 4, TUI_S_DIM, "(any key closes this message)");
}

/* The help: one entry per key binding, its text wrapped to the width (no
 * entry is cut), scrolled by s->help_scroll (clamped here). */
void view_help(tui_grid *g, wb_state *s, const wb_key_help *keys, int n, int x, int y, int w, int h)
{
    tui_fill(g, x, y, w, h, ' ', TUI_S_NORMAL);
    int tw = w - 30 > 10 ? w - 30 : 10, rows = h - 2 > 1 ? h - 2 : 1;
    int total = 0;
    for (int i = 0; i < n; i++)
        total += wrap_lines(keys[i].help, tw, NULL, 0, 0, 100, 0);
    int max_scroll = total - rows > 0 ? total - rows : 0;
    if (s->help_scroll > max_scroll)
        s->help_scroll = max_scroll;
    if (s->help_scroll < 0)
        s->help_scroll = 0;
    if (max_scroll > 0)
        tui_printf(g, x + 2, y, w - 4, TUI_S_HEADER, "Keys %d-%d of %d: Up/Down PgUp/PgDn Home/End scroll, other keys close",
                   s->help_scroll + 1, s->help_scroll + rows < total ? s->help_scroll + rows : total, total);
    else
        tui_text(g, x + 2, y, w - 4, TUI_S_HEADER, "Keys (from the keymap table; any key closes)");
    /* lay the entries out on a scratch grid of all their lines, then copy
     * the visible rows */
    tui_grid *t = tui_grid_new(w, total > 0 ? total : 1, g->utf8);
    if (!t)
        return;
    int line = 0;
    for (int i = 0; i < n; i++) {
        tui_text(t, 2, line, 14, TUI_S_ACCENT, keys[i].keys);
        tui_text(t, 17, line, 10, TUI_S_DIM, keys[i].screens);
        line += wrap_lines(keys[i].help, tw, t, 28, line, 100, TUI_S_NORMAL);
    }
    for (int r = 0; r < rows && s->help_scroll + r < total; r++)
        for (int c = 0; c < w; c++) {
            const tui_cell *cell = tui_at(t, c, s->help_scroll + r);
            tui_put(g, x + c, y + 2 + r, cell->ch, cell->style);
        }
    tui_grid_free(t);
}

void view_too_small(tui_grid *g, int min_w, int min_h)
{
    tui_grid_clear(g);
    tui_printf(g, 0, 0, 0, TUI_S_BAD, "Terminal too small: %dx%d.", g->w, g->h);
    tui_printf(g, 0, 1, 0, TUI_S_NORMAL, "nmlab needs %dx%d; resize or press q.", min_w, min_h);
}

void wb_hit_add(wb_state *s, int x, int y, int w, const char *layer)
{
    if (s->n_hits >= WB_MAX_HITS || !layer)
        return;
    s->hits[s->n_hits].x = x, s->hits[s->n_hits].y = y, s->hits[s->n_hits].w = w;
    snprintf(s->hits[s->n_hits].layer, sizeof s->hits[0].layer, "%s", layer);
    s->n_hits++;
}

const char *wb_hit_at(const wb_state *s, int x, int y)
{
    for (int i = 0; i < s->n_hits; i++)
        if (y == s->hits[i].y && x >= s->hits[i].x && x < s->hits[i].x + s->hits[i].w)
            return s->hits[i].layer;
    return NULL;
}

void wb_draw(tui_grid *g, wb_state *s, const wb_key_help *keys, int nkeys)
{
    tui_grid_clear(g);
    s->n_hits = 0;
    view_header(g, s);
    int x = 0, y = 2, w = g->w, h = g->h - 4;
    if (s->show_help) {
        view_help(g, s, keys, nkeys, x, y, w, h);
    } else {
        switch (s->screen) {
        case WB_SCREEN_LAYERS: view_layers(g, s, x, y, w, h); break;
        case WB_SCREEN_MASK: view_mask(g, s, x, y, w, h); break;
        case WB_SCREEN_CONSOLE: view_console(g, s, x, y, w, h); break;
        case WB_SCREEN_ARRAY: view_array(g, s, x, y, w, h); break;
        case WB_SCREEN_ACTIVATIONS: view_activations(g, s, x, y, w, h); break;
        case WB_SCREEN_ENERGY: view_energy(g, s, x, y, w, h); break;
        case WB_SCREEN_RUNS: view_runs(g, s, x, y, w, h); break;
        default:
            tui_text(g, 2, y + 1, w - 4, TUI_S_DIM, "(this screen has nothing to show yet)");
            break;
        }
    }
    view_status(g, s);
    view_fkeys(g, keys, nkeys);
    view_alert(g, s);
}
