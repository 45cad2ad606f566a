/* view_console.c - screen 6: the Lua console's log and input line. */
#include "workbench.h"

void view_console(tui_grid *g, wb_state *s, int x, int y, int w, int h)
{
    int rows = h - 1;
    int total = s->log.count;
    if (s->log_scroll > total - rows)
        s->log_scroll = total - rows;
    if (s->log_scroll < 0)
        s->log_scroll = 0;
    int first = total - rows - s->log_scroll;
    for (int r = 0; r < rows; r++) {
        int i = first + r;
        if (i < 0 || i >= total)
            continue;
        wb_log_kind kind;
        const char *line = wb_log_line(&s->log, i, &kind);
        int style = kind == WB_LOG_ERROR ? TUI_S_BAD : kind == WB_LOG_INPUT ? TUI_S_ACCENT
                    : kind == WB_LOG_INFO ? TUI_S_DIM : TUI_S_NORMAL;
        tui_text(g, x + 1, y + r, w - 2, style, line);
    }
    int yy = y + h - 1;
    const char *prompt = s->continuation ? ">> " : "> ";
    int px = x + 1 + tui_text(g, x + 1, yy, 0, TUI_S_ACCENT, prompt);
    /* scroll the input horizontally so the cursor stays visible */
    int room = w - (px - x) - 1, start = 0;
    if (s->input_cursor > room - 1)
        start = s->input_cursor - room + 1;
    for (int i = start; i < s->input_len && px + i - start < x + w - 1; i++)
        tui_put(g, px + i - start, yy, (unsigned char)s->input[i], TUI_S_NORMAL);
    tui_put(g, px + s->input_cursor - start, yy,
            s->input_cursor < s->input_len ? (unsigned char)s->input[s->input_cursor] : ' ', TUI_S_SELECTED);
    if (s->log_scroll > 0)
        tui_printf(g, x + w - 22, y, 22, TUI_S_WARN, "[scrolled back %d]", s->log_scroll);
}
