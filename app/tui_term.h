/* tui_term.h - the only place that talks to curses: terminal set-up, the
 * colour ladder, and flushing a tui_grid to the screen. */
#ifndef TUI_TERM_H
#define TUI_TERM_H

#include "tui_grid.h"

typedef enum { TERM_MONO = 0, TERM_8, TERM_256 } term_colors;

typedef struct {
    int utf8;             /* locale is UTF-8: Unicode glyphs */
    term_colors colors;   /* what the terminal (and NO_COLOR) allow */
    int dark;             /* dark theme */
    int mouse;
    int present;          /* presentation mode: bold, high contrast */
} term_info;

/* Starts curses (call once). Returns 0, or -1 when stdout is no terminal. */
int term_begin(term_info *ti, int dark, int mouse);
void term_end(void);
/* Switches theme or mouse at run time. */
void term_set_theme(term_info *ti, int dark);
void term_set_mouse(term_info *ti, int on);
/* Current terminal size. */
void term_size(int *w, int *h);
/* Draws the grid (curses diffs against what is on screen) and refreshes. */
void term_flush(const term_info *ti, const tui_grid *g);

#endif
