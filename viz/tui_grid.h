/* tui_grid.h - an in-memory grid of terminal cells that TUI views draw into.
 *
 * Views never call curses: they write cells (a Unicode code point plus a
 * style role) into a tui_grid, which the app flushes to the terminal and
 * tests turn into text snapshots. Style roles are semantic (header, kept,
 * pruned, ramp level...); the app maps them to colours per theme and
 * terminal capability, and every role that carries meaning also has a glyph,
 * so nothing is told by colour alone. */
#ifndef TUI_GRID_H
#define TUI_GRID_H

#include <stdint.h>

typedef enum {
    TUI_S_NORMAL = 0,
    TUI_S_DIM,
    TUI_S_HEADER,     /* title bars, column heads */
    TUI_S_SELECTED,   /* the selected row / cursor */
    TUI_S_ACCENT,     /* values worth the eye: totals, current setting */
    TUI_S_GOOD,       /* kept weights, passing checks */
    TUI_S_BAD,        /* pruned weights, errors */
    TUI_S_WARN,
    TUI_S_BAR,        /* filled part of a bar */
    TUI_S_BAR_BG,     /* empty part of a bar */
    TUI_S_BUSY,       /* PE multiplying */
    TUI_S_IDLE,       /* PE idle */
    TUI_S_LOAD,       /* PE loading */
    TUI_S_CURSOR,     /* the Mask cursor: a colour no ramp level has */
    TUI_S_RAMP0,      /* heatmap ramp, 8 levels: RAMP0 + k */
    TUI_S_RAMP7 = TUI_S_RAMP0 + 7,
    TUI_S_COUNT
} tui_style;

/* A cell may also carry a second ramp style for half-block heatmaps: the
 * glyph's foreground is `style` (top half), its background `style2`
 * (bottom half); style2 = TUI_S_NORMAL means the default background. */
typedef struct {
    uint32_t ch;
    uint8_t style, style2;
} tui_cell;

typedef struct {
    int w, h;
    tui_cell *cells;   /* w*h, row-major */
    int utf8;          /* 1: Unicode glyphs allowed; 0: ASCII fallbacks */
} tui_grid;

/* New blank grid (spaces, normal style); NULL if out of memory. */
tui_grid *tui_grid_new(int w, int h, int utf8);
void tui_grid_free(tui_grid *g);
/* Resizes and clears; returns 0, or -1 if out of memory (grid unchanged). */
int tui_grid_resize(tui_grid *g, int w, int h);
void tui_grid_clear(tui_grid *g);

/* Writes one cell; out-of-range coordinates are ignored (views clip freely). */
void tui_put(tui_grid *g, int x, int y, uint32_t ch, int style);
void tui_put2(tui_grid *g, int x, int y, uint32_t ch, int style, int style2);
/* Writes UTF-8 text from (x, y), clipped at max_w cells (or the grid's edge
 * when max_w <= 0). Returns the number of cells written. */
int tui_text(tui_grid *g, int x, int y, int max_w, int style, const char *utf8);
/* printf into the grid, same clipping as tui_text. */
int tui_printf(tui_grid *g, int x, int y, int max_w, int style, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
/* Fills a rectangle with ch. */
void tui_fill(tui_grid *g, int x, int y, int w, int h, uint32_t ch, int style);
/* Sets the style of a rectangle, keeping the glyphs. */
void tui_restyle(tui_grid *g, int x, int y, int w, int h, int style);
const tui_cell *tui_at(const tui_grid *g, int x, int y);

/* The grid as UTF-8 text, one line per row with trailing spaces removed
 * (malloc'd, caller frees). For snapshots and batch mode. */
char *tui_grid_text(const tui_grid *g);

/* Number of cells a UTF-8 string occupies (one per code point). */
int tui_text_width(const char *utf8);

/* Glyphs with ASCII fallbacks chosen by g->utf8. */
uint32_t tui_glyph_block(const tui_grid *g, double fraction); /* ' ' .. full block */
uint32_t tui_glyph_upper_half(const tui_grid *g);
uint32_t tui_glyph_ramp(const tui_grid *g, double v);         /* 0..1 density glyph */

#endif
