/* tui_grid.c - cell grid drawing and text snapshots. */
#include "tui_grid.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

tui_grid *tui_grid_new(int w, int h, int utf8)
{
    tui_grid *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->utf8 = utf8;
    if (tui_grid_resize(g, w, h) != 0) {
        free(g);
        return NULL;
    }
    return g;
}

void tui_grid_free(tui_grid *g)
{
    if (g) {
        free(g->cells);
        free(g);
    }
}

int tui_grid_resize(tui_grid *g, int w, int h)
{
    if (w < 1)
        w = 1;
    if (h < 1)
        h = 1;
    tui_cell *c = malloc((size_t)w * (size_t)h * sizeof *c);
    if (!c)
        return -1;
    free(g->cells);
    g->cells = c;
    g->w = w;
    g->h = h;
    tui_grid_clear(g);
    return 0;
}

void tui_grid_clear(tui_grid *g)
{
    for (int i = 0; i < g->w * g->h; i++)
        g->cells[i] = (tui_cell){' ', TUI_S_NORMAL, TUI_S_NORMAL};
}

void tui_put2(tui_grid *g, int x, int y, uint32_t ch, int style, int style2)
{
    if (x < 0 || y < 0 || x >= g->w || y >= g->h)
        return;
    g->cells[y * g->w + x] = (tui_cell){ch, (uint8_t)style, (uint8_t)style2};
}

void tui_put(tui_grid *g, int x, int y, uint32_t ch, int style)
{
    tui_put2(g, x, y, ch, style, TUI_S_NORMAL);
}

/* Decodes one UTF-8 code point; invalid bytes come out as '?'. */
static uint32_t utf8_next(const unsigned char **p)
{
    const unsigned char *s = *p;
    uint32_t c = s[0];
    int n = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : (c & 0xF8) == 0xF0 ? 3 : -1;
    if (n < 0) {
        *p = s + 1;
        return '?';
    }
    if (n > 0)
        c &= 0x3F >> n;
    for (int i = 1; i <= n; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            *p = s + i;
            return '?';
        }
        c = (c << 6) | (s[i] & 0x3F);
    }
    *p = s + n + 1;
    return c;
}

int tui_text_width(const char *utf8)
{
    int n = 0;
    const unsigned char *p = (const unsigned char *)utf8;
    while (*p) {
        utf8_next(&p);
        n++;
    }
    return n;
}

int tui_text(tui_grid *g, int x, int y, int max_w, int style, const char *utf8)
{
    int limit = max_w > 0 ? max_w : g->w - x;
    int n = 0;
    const unsigned char *p = (const unsigned char *)utf8;
    while (*p && n < limit) {
        uint32_t c = utf8_next(&p);
        if (c == '\t' || c == '\n' || c < 0x20)
            c = ' ';
        if (!g->utf8 && c > 0x7E)
            c = '?';
        tui_put(g, x + n, y, c, style);
        n++;
    }
    return n;
}

int tui_printf(tui_grid *g, int x, int y, int max_w, int style, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return tui_text(g, x, y, max_w, style, buf);
}

void tui_fill(tui_grid *g, int x, int y, int w, int h, uint32_t ch, int style)
{
    for (int j = y; j < y + h; j++)
        for (int i = x; i < x + w; i++)
            tui_put(g, i, j, ch, style);
}

void tui_restyle(tui_grid *g, int x, int y, int w, int h, int style)
{
    for (int j = y; j < y + h; j++)
        for (int i = x; i < x + w; i++)
            if (i >= 0 && j >= 0 && i < g->w && j < g->h)
                g->cells[j * g->w + i].style = (uint8_t)style;
}

const tui_cell *tui_at(const tui_grid *g, int x, int y)
{
    if (x < 0 || y < 0 || x >= g->w || y >= g->h)
        return NULL;
    return &g->cells[y * g->w + x];
}

static size_t utf8_put(char *out, uint32_t c)
{
    if (c < 0x80) {
        out[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        out[0] = (char)(0xC0 | (c >> 6));
        out[1] = (char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        out[0] = (char)(0xE0 | (c >> 12));
        out[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        out[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (c >> 18));
    out[1] = (char)(0x80 | ((c >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((c >> 6) & 0x3F));
    out[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

char *tui_grid_text(const tui_grid *g)
{
    char *out = malloc((size_t)g->h * ((size_t)g->w * 4 + 1) + 1);
    if (!out)
        return NULL;
    size_t n = 0;
    for (int y = 0; y < g->h; y++) {
        size_t line = n, last = n;
        for (int x = 0; x < g->w; x++) {
            uint32_t c = g->cells[y * g->w + x].ch;
            n += utf8_put(out + n, c);
            if (c != ' ')
                last = n;
        }
        (void)line;
        n = last;
        out[n++] = '\n';
    }
    out[n] = '\0';
    return out;
}

uint32_t tui_glyph_block(const tui_grid *g, double f)
{
    static const uint32_t eighths[9] = {' ', 0x258F, 0x258E, 0x258D, 0x258C,
                                        0x258B, 0x258A, 0x2589, 0x2588};
    if (f < 0)
        f = 0;
    if (f > 1)
        f = 1;
    if (!g->utf8)
        return f >= 0.5 ? '#' : f > 0 ? '-' : ' ';
    return eighths[(int)(f * 8 + 0.5)];
}

uint32_t tui_glyph_upper_half(const tui_grid *g)
{
    return g->utf8 ? 0x2580 : '#';
}

uint32_t tui_glyph_ramp(const tui_grid *g, double v)
{
    static const char ascii[] = " .:-=+*#%@";
    static const uint32_t uni[5] = {' ', 0x2591, 0x2592, 0x2593, 0x2588};
    if (v < 0)
        v = 0;
    if (v > 1)
        v = 1;
    if (!g->utf8)
        return (uint32_t)ascii[(int)(v * 9 + 0.5)];
    return uni[(int)(v * 4 + 0.5)];
}
