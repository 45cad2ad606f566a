/* tui_term.c - curses set-up, colour ladder and grid flushing.
 *
 * Colour ladder (after btop/htop): NO_COLOR or a terminal without colours ->
 * attributes only; 8 colours on the terminal's own background (-1); 256
 * colours with a viridis ramp from the 6x6x6 cube. Direct colour is not used:
 * the 256-colour ramp is close enough and works in tmux and screen. */
#define _XOPEN_SOURCE_EXTENDED 1
#include "tui_term.h"

#include <curses.h>
#include <langinfo.h>
#include <locale.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
#include <wchar.h>

typedef struct {
    short fg, bg;   /* colour numbers (-1 = terminal default) */
    attr_t attr;
} style_def;

static style_def styles[TUI_S_COUNT];
static short pair_cache[258][258]; /* [fg+1][bg+1] -> pair, 0 = unallocated */
static int next_pair = 1;

/* Viridis at 8 steps as 256-colour cube indices, dark to bright. */
static const short viridis256[8] = {53, 60, 61, 31, 37, 72, 113, 184};
static const short viridis8[8] = {COLOR_BLUE, COLOR_BLUE, COLOR_MAGENTA, COLOR_CYAN,
                                  COLOR_CYAN, COLOR_GREEN, COLOR_GREEN, COLOR_YELLOW};

static void define_base_styles(const term_info *ti)
{
    memset(pair_cache, 0, sizeof pair_cache);
    next_pair = 1;
    for (int i = 0; i < TUI_S_COUNT; i++)
        styles[i] = (style_def){-1, -1, A_NORMAL};
    styles[TUI_S_DIM].attr = A_DIM;
    styles[TUI_S_HEADER].attr = A_REVERSE;
    styles[TUI_S_SELECTED].attr = A_REVERSE | A_BOLD;
    styles[TUI_S_CURSOR].attr = A_REVERSE | A_BOLD;
    styles[TUI_S_ACCENT].attr = A_BOLD;
    styles[TUI_S_WARN].attr = A_BOLD;
    styles[TUI_S_BAD].attr = A_BOLD;
    styles[TUI_S_BUSY].attr = A_BOLD;
    if (ti->colors == TERM_MONO)
        return;
    int c256 = ti->colors == TERM_256;
    styles[TUI_S_HEADER] = (style_def){ti->dark ? COLOR_BLACK : COLOR_WHITE, COLOR_CYAN, A_NORMAL};
    if (c256)
        styles[TUI_S_HEADER] = (style_def){ti->dark ? 231 : 16, ti->dark ? 24 : 117, A_NORMAL};
    styles[TUI_S_SELECTED] = (style_def){ti->dark ? COLOR_BLACK : COLOR_WHITE, COLOR_YELLOW, A_BOLD};
    /* the Mask cursor: magenta, which neither viridis ramp has at its top
     * (yellow, the selection's colour) nor the pruned colour (red) */
    styles[TUI_S_CURSOR] = (style_def){COLOR_WHITE, COLOR_MAGENTA, A_BOLD};
    if (c256)
        styles[TUI_S_CURSOR] = (style_def){231, 201, A_BOLD};
    styles[TUI_S_ACCENT] = (style_def){COLOR_CYAN, -1, A_BOLD};
    styles[TUI_S_GOOD] = (style_def){COLOR_GREEN, -1, A_NORMAL};
    styles[TUI_S_BAD] = (style_def){COLOR_RED, -1, A_NORMAL};
    styles[TUI_S_WARN] = (style_def){COLOR_YELLOW, -1, A_BOLD};
    styles[TUI_S_BAR] = (style_def){COLOR_BLUE, -1, A_NORMAL};
    styles[TUI_S_BAR_BG].attr = A_DIM;
    styles[TUI_S_BUSY] = (style_def){COLOR_GREEN, -1, A_BOLD};
    styles[TUI_S_IDLE].attr = A_DIM;
    styles[TUI_S_LOAD] = (style_def){COLOR_YELLOW, -1, A_NORMAL};
    if (c256) {
        styles[TUI_S_BAR].fg = ti->dark ? 75 : 25;
        styles[TUI_S_BAD].fg = 203;   /* vermillion-ish: distinct from the ramp */
        styles[TUI_S_GOOD].fg = 36;
    }
    for (int k = 0; k < 8; k++)
        styles[TUI_S_RAMP0 + k] = (style_def){c256 ? viridis256[k] : viridis8[k], -1,
                                              (!c256 && k >= 6) ? A_BOLD : A_NORMAL};
}

/* Presentation mode on top of the theme: everything bold, nothing dim,
 * text in the theme's strongest colour, black on yellow title bars. */
static void define_styles(const term_info *ti)
{
    define_base_styles(ti);
    if (!ti->present)
        return;
    for (int i = 0; i < TUI_S_COUNT; i++)
        styles[i].attr = (styles[i].attr & ~A_DIM) | A_BOLD;
    if (ti->colors == TERM_MONO)
        return;
    int c256 = ti->colors == TERM_256;
    short fg = c256 ? (ti->dark ? 231 : 16) : (ti->dark ? COLOR_WHITE : COLOR_BLACK);
    styles[TUI_S_NORMAL].fg = styles[TUI_S_DIM].fg = styles[TUI_S_IDLE].fg = fg;
    styles[TUI_S_HEADER] = (style_def){COLOR_BLACK, COLOR_YELLOW, A_BOLD};
    if (c256)
        styles[TUI_S_HEADER] = (style_def){16, 226, A_BOLD};
}

static short pair_for(short fg, short bg)
{
    if (fg == -1 && bg == -1)
        return 0;
    short *p = &pair_cache[fg + 1][bg + 1];
    if (*p == 0) {
        if (next_pair >= COLOR_PAIRS)
            return 0;
        init_pair((short)next_pair, fg, bg);
        *p = (short)next_pair++;
    }
    return *p;
}

int term_begin(term_info *ti, int dark, int mouse)
{
    setlocale(LC_ALL, "");
    const char *cs = nl_langinfo(CODESET);
    ti->utf8 = cs && (strcmp(cs, "UTF-8") == 0 || strcmp(cs, "utf8") == 0);
    if (!initscr())
        return -1;
    cbreak();
    noecho();
    nonl();
    keypad(stdscr, TRUE);
    curs_set(0);
    /* Ctrl-C stays a signal (it cancels scripts), but must not make the
     * terminal discard keys typed before it that we have not read yet */
    struct termios tio;
    if (tcgetattr(STDIN_FILENO, &tio) == 0) {
        tio.c_lflag |= NOFLSH;
        tcsetattr(STDIN_FILENO, TCSADRAIN, &tio);
        def_prog_mode();
    }
    set_escdelay(25);
    timeout(50);
    const char *nc = getenv("NO_COLOR");
    ti->colors = TERM_MONO;
    if (has_colors() && !(nc && nc[0])) {
        start_color();
        use_default_colors();
        ti->colors = COLORS >= 256 ? TERM_256 : TERM_8;
    }
    ti->dark = dark;
    define_styles(ti);
    term_set_mouse(ti, mouse);
    return 0;
}

void term_end(void)
{
    if (!isendwin())
        endwin();
}

void term_set_theme(term_info *ti, int dark)
{
    ti->dark = dark;
    define_styles(ti);
    clear();
}

void term_set_mouse(term_info *ti, int on)
{
    ti->mouse = on;
    mousemask(on ? (BUTTON1_CLICKED | BUTTON1_PRESSED | BUTTON4_PRESSED | BUTTON5_PRESSED) : 0, NULL);
    mouseinterval(0);
}

void term_size(int *w, int *h)
{
    getmaxyx(stdscr, *h, *w);
}

void term_flush(const term_info *ti, const tui_grid *g)
{
    int sw, sh;
    getmaxyx(stdscr, sh, sw);
    for (int y = 0; y < g->h && y < sh; y++)
        for (int x = 0; x < g->w && x < sw; x++) {
            const tui_cell *c = &g->cells[y * g->w + x];
            const style_def *a = &styles[c->style], *b = &styles[c->style2];
            short fg = a->fg, bg = a->bg;
            if (c->style2 != TUI_S_NORMAL) {
                /* half-block: the bottom cell's colour as background; the
                 * cursor (selected) half in the selection colour */
                if (c->style == TUI_S_SELECTED || c->style == TUI_S_CURSOR)
                    fg = a->bg;
                bg = c->style2 == TUI_S_SELECTED || c->style2 == TUI_S_CURSOR ? b->bg : b->fg;
            }
            wchar_t wc[2] = {(wchar_t)c->ch, 0};
            if (!ti->utf8 && c->ch > 0x7E)
                wc[0] = '?';
            cchar_t cc;
            setcchar(&cc, wc, a->attr, ti->colors == TERM_MONO ? 0 : pair_for(fg, bg), NULL);
            mvadd_wch(y, x, &cc);
        }
    wnoutrefresh(stdscr);
    doupdate();
}
