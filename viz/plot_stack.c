/* plot_stack.c - figures drawn apart, stacked into one: the panels of a
 * paper figure (one layer's masks under four methods). Panels drawn with
 * the same cell size and layout have their matrices at the same x, so
 * stacked left-aligned they share one horizontal scale and aligned axes. */
#include "plot_internal.h"

#include <math.h>

#define MAX_PANELS 64

static int draw_stack(plot *p, const plot *const *panels, int n)
{
    const char *w = "plot_stack";
    if (!p)
        return nm_seterr("%s: no plot", w);
    if (!panels || n < 1 || n > MAX_PANELS)
        return nm_seterr("%s: %d panels (1..%d allowed)", w, n, MAX_PANELS);
    int width = 0;
    int64_t height = 0;
    for (int i = 0; i < n; i++) {
        if (!panels[i] || !panels[i]->kind)
            return nm_seterr("%s: panel %d is %s", w, i + 1, panels[i] ? "empty (nothing drawn)"
                                                                       : "missing");
        if (panels[i] == p)
            return nm_seterr("%s: panel %d is the figure itself", w, i + 1);
        if (panels[i]->dpi != panels[0]->dpi || panels[i]->theme != panels[0]->theme)
            return nm_seterr("%s: panel %d is at %g dpi, %s theme, panel 1 at %g dpi, %s: "
                             "panels of one figure share dpi and theme", w, i + 1,
                             panels[i]->dpi, panels[i]->theme ? "dark" : "light",
                             panels[0]->dpi, panels[0]->theme ? "dark" : "light");
        int pw = cairo_image_surface_get_width(panels[i]->surf);
        width = pw > width ? pw : width;
        height += cairo_image_surface_get_height(panels[i]->surf);
    }
    /* the figure takes the panels' dpi (unless given) and theme */
    if (p->dpi_auto) {
        p->dpi = panels[0]->dpi;
        p->px_per_pt = p->dpi / 72.0;
    }
    if (p->theme != panels[0]->theme) {
        p->theme = panels[0]->theme;
        plot_theme_colors(p->theme, &p->col);
    }
    int gap = (int)lround(plot_px(p, 4));
    int top = p->title && *p->title ? (int)ceil(plot_title_bottom(p, width)) : 0;
    int W = p->width ? p->width : width;
    int64_t H = p->height ? p->height : top + height + (int64_t)gap * (n - 1);
    if (W < width || H < top + height + gap * (n - 1))
        return nm_seterr("%s: the panels need %d x %lld pixels but the figure is %d x %lld "
                         "(give width/height 0 to fit them)", w, width,
                         (long long)(top + height + (int64_t)gap * (n - 1)), W, (long long)H);
    if (H > PLOT_MAX_SIDE)
        return nm_seterr("%s: %d panels are %lld pixels tall in all (at most %d)", w, n,
                         (long long)H, PLOT_MAX_SIDE);
    if (plot_canvas(p, W < 64 ? 64 : W, H < 64 ? 64 : (int)H, "stack") != NM_OK)
        return NM_ERR;
    if (top > 0)
        plot_draw_title(p);
    int y = top;
    for (int i = 0; i < n; i++) {
        cairo_surface_flush(panels[i]->surf);
        cairo_save(p->cr);
        cairo_set_source_surface(p->cr, panels[i]->surf, 0, y);
        cairo_pattern_set_filter(cairo_get_source(p->cr), CAIRO_FILTER_NEAREST);
        cairo_rectangle(p->cr, 0, y, cairo_image_surface_get_width(panels[i]->surf),
                        cairo_image_surface_get_height(panels[i]->surf));
        cairo_fill(p->cr);
        cairo_restore(p->cr);
        if (i == 0) {
            p->data = panels[0]->data;
            p->data.y += y;
        }
        y += cairo_image_surface_get_height(panels[i]->surf) + gap;
    }
    return plot_check_cairo(p, w);
}

int plot_stack(plot *p, const plot *const *panels, int n)
{
    int before = p && p->kind;
    return plot_finish(p, before, draw_stack(p, panels, n));
}
