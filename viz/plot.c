/* plot.c - the figure: options, canvas, text, saving. */
#include "plot_internal.h"

#include "nmlab_config.h"
#include "png_write.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

plot_opts plot_defaults(void)
{
    plot_opts o;
    memset(&o, 0, sizeof o);
    o.dpi = 0;   /* automatic: 100, or PLOT_TABLE_DPI for a table sized to fit */
    o.theme = PLOT_THEME_LIGHT;
    return o;
}

static char *dup_or_null(const char *s, int *oom)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *oom = 1;
    return d;
}

/* Nonzero if s is well-formed UTF-8 (no overlongs, surrogates or > U+10FFFF). */
static int utf8_ok(const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    while (*u) {
        int n = *u < 0x80 ? 0 : (*u & 0xE0) == 0xC0 ? 1 : (*u & 0xF0) == 0xE0 ? 2 :
                (*u & 0xF8) == 0xF0 ? 3 : -1;
        if (n < 0)
            return 0;
        uint32_t cp = n == 0 ? *u : *u & (0x3F >> n);
        for (int i = 1; i <= n; i++) {
            if ((u[i] & 0xC0) != 0x80)
                return 0;
            cp = cp << 6 | (u[i] & 0x3F);
        }
        static const uint32_t min[4] = {0, 0x80, 0x800, 0x10000};
        if (cp < min[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        u += n + 1;
    }
    return 1;
}

/* Checks a requested size (0 = default) against the limits. */
static int check_side(const char *what, int v)
{
    if (v < 0 || (v > 0 && v < 64) || v > PLOT_MAX_SIDE)
        return nm_seterr("plot: %s %d pixels is out of range (64..%d, or 0 for the default)",
                         what, v, PLOT_MAX_SIDE);
    return NM_OK;
}

/* The font set up the same way every time: grey antialiasing, no hinting,
 * so glyph shapes depend on the font file only. */
static void setup_context(plot *p)
{
    cairo_set_font_face(p->cr, p->font);
    cairo_font_options_t *fo = cairo_font_options_create();
    cairo_font_options_set_antialias(fo, CAIRO_ANTIALIAS_GRAY);
    cairo_font_options_set_hint_style(fo, CAIRO_HINT_STYLE_NONE);
    cairo_font_options_set_hint_metrics(fo, CAIRO_HINT_METRICS_OFF);
    cairo_set_font_options(p->cr, fo);
    cairo_font_options_destroy(fo);
}

plot *plot_begin(const plot_opts *o)
{
    plot_opts d = plot_defaults();
    if (!o)
        o = &d;
    double dpi = o->dpi == 0 ? 100 : o->dpi;
    if (!isfinite(dpi) || dpi < 36 || dpi > 1200) {
        nm_seterr("plot: dpi %g is out of range (36..1200)", o->dpi);
        return NULL;
    }
    if (check_side("width", o->width) != NM_OK || check_side("height", o->height) != NM_OK)
        return NULL;
    if (o->index_base != 0 && o->index_base != 1) {
        nm_seterr("plot: index_base %d must be 0 or 1", o->index_base);
        return NULL;
    }
    if (!isfinite(o->cell) || o->cell < 0 || o->cell > 1000) {
        nm_seterr("plot: cell %g points is out of range (0..1000, 0 = fit)", o->cell);
        return NULL;
    }
    if (o->theme != PLOT_THEME_LIGHT && o->theme != PLOT_THEME_DARK) {
        nm_seterr("plot: unknown theme %d", (int)o->theme);
        return NULL;
    }
    const char *texts[4] = {o->title, o->xlabel, o->ylabel, o->params};
    const char *names[4] = {"title", "xlabel", "ylabel", "params"};
    for (int i = 0; i < 4; i++)
        if (texts[i] && !utf8_ok(texts[i])) {
            nm_seterr("plot: %s is not valid UTF-8", names[i]);
            return NULL;
        }
    plot *p = calloc(1, sizeof *p);
    if (!p) {
        nm_seterr("plot: out of memory");
        return NULL;
    }
    p->width = o->width;
    p->height = o->height;
    p->dpi = dpi;
    p->px_per_pt = dpi / 72.0;
    p->dpi_auto = o->dpi == 0;
    p->cell_pt = o->cell;
    p->theme = o->theme;
    p->index_base = o->index_base;
    plot_theme_colors(p->theme, &p->col);
    int oom = 0;
    p->title = dup_or_null(o->title, &oom);
    p->xlabel = dup_or_null(o->xlabel, &oom);
    p->ylabel = dup_or_null(o->ylabel, &oom);
    p->params = dup_or_null(o->params, &oom);
    p->font_path = dup_or_null(o->font ? o->font : PLOT_DEFAULT_FONT, &oom);
    if (oom) {
        nm_seterr("plot: out of memory");
        plot_end(p);
        return NULL;
    }
    p->font = plot_font_load(p->font_path);
    if (!p->font) {
        plot_end(p);
        return NULL;
    }
    /* A scratch context for measuring text before the canvas exists. */
    p->surf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 1, 1);
    p->cr = cairo_create(p->surf);
    setup_context(p);
    if (plot_check_cairo(p, "plot") != NM_OK) {
        plot_end(p);
        return NULL;
    }
    return p;
}

void plot_end(plot *p)
{
    if (!p)
        return;
    if (p->cr)
        cairo_destroy(p->cr);
    if (p->surf)
        cairo_surface_destroy(p->surf);
    if (p->font)
        cairo_font_face_destroy(p->font);
    free(p->title);
    free(p->xlabel);
    free(p->ylabel);
    free(p->params);
    free(p->font_path);
    free(p);
}

double plot_px(const plot *p, double pt) { return pt * p->px_per_pt; }

int plot_default_width(const plot *p) { return p->width ? p->width : (int)lround(8.0 * p->dpi); }
int plot_default_height(const plot *p) { return p->height ? p->height : (int)lround(5.0 * p->dpi); }

int plot_canvas(plot *p, int w, int h, const char *kind)
{
    if (p->kind)
        return nm_seterr("plot: this figure already holds a %s chart (one chart per plot)", p->kind);
    if (w < 64 || h < 64 || w > PLOT_MAX_SIDE || h > PLOT_MAX_SIDE ||
        (int64_t)w * h > PLOT_MAX_PIXELS)
        return nm_seterr("plot: a %s figure of %d x %d pixels is out of range (64..%d per side, "
                         "%d pixels in all): lower the size or the dpi",
                         kind, w, h, PLOT_MAX_SIDE, PLOT_MAX_PIXELS);
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
    cairo_t *cr = cairo_create(s);
    if (cairo_status(cr) != CAIRO_STATUS_SUCCESS) {
        cairo_status_t st = cairo_status(cr);
        cairo_destroy(cr);
        cairo_surface_destroy(s);
        return nm_seterr("%s: cannot create a %d x %d canvas: %s", kind, w, h,
                         cairo_status_to_string(st));
    }
    cairo_destroy(p->cr);
    cairo_surface_destroy(p->surf);
    p->surf = s;
    p->cr = cr;
    p->kind = kind;
    memset(&p->info, 0, sizeof p->info);
    setup_context(p);
    plot_set_rgb(p, p->col.bg);
    cairo_paint(cr);
    return NM_OK;
}

void plot_set_rgb(const plot *p, plot_rgb c) { cairo_set_source_rgb(p->cr, c.r, c.g, c.b); }

double plot_text_width(plot *p, double pt, const char *s)
{
    cairo_set_font_size(p->cr, plot_px(p, pt));
    cairo_text_extents_t te;
    cairo_text_extents(p->cr, s, &te);
    return te.x_advance;
}

double plot_line_height(plot *p, double pt)
{
    cairo_set_font_size(p->cr, plot_px(p, pt));
    cairo_font_extents_t fe;
    cairo_font_extents(p->cr, &fe);
    return fe.ascent + fe.descent;
}

void plot_text(plot *p, double pt, const char *s, double x, double y,
               double ha, double va, double angle, plot_rgb c)
{
    cairo_t *cr = p->cr;
    cairo_set_font_size(cr, plot_px(p, pt));
    cairo_font_extents_t fe;
    cairo_font_extents(cr, &fe);
    cairo_text_extents_t te;
    cairo_text_extents(cr, s, &te);
    double h = fe.ascent + fe.descent;
    cairo_save(cr);
    cairo_translate(cr, x, y);
    if (angle != 0)
        cairo_rotate(cr, angle);
    cairo_move_to(cr, -ha * te.x_advance, -va * h + fe.ascent);
    plot_set_rgb(p, c);
    cairo_show_text(cr, s);
    cairo_new_path(cr);
    cairo_restore(cr);
}

void plot_fill_px(plot *p, int x0, int y0, int x1, int y1, plot_rgb c)
{
    if (x1 <= x0 || y1 <= y0)
        return;
    cairo_save(p->cr);
    cairo_set_antialias(p->cr, CAIRO_ANTIALIAS_NONE);
    cairo_rectangle(p->cr, x0, y0, x1 - x0, y1 - y0);
    plot_set_rgb(p, c);
    cairo_fill(p->cr);
    cairo_restore(p->cr);
}

int plot_check_cairo(plot *p, const char *what)
{
    cairo_status_t st = cairo_status(p->cr);
    if (st != CAIRO_STATUS_SUCCESS)
        return nm_seterr("%s: cairo: %s", what, cairo_status_to_string(st));
    return NM_OK;
}

int plot_finish(plot *p, int drawn_before, int status)
{
    if (status != NM_OK && p && !drawn_before)
        p->kind = NULL;
    return status;
}

int plot_check_finite(const char *what, const double *v, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return nm_seterr("%s: value %lld is %s", what, (long long)i,
                             isnan(v[i]) ? "NaN" : "infinite");
    return NM_OK;
}

int plot_check_names(const char *what, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (!names[i])
            return nm_seterr("%s: name %d is NULL", what, i);
    return NM_OK;
}

int plot_data_rect(const plot *p, plot_rect *r)
{
    if (!p || !p->kind)
        return nm_seterr("plot: nothing drawn yet");
    *r = p->data;
    return NM_OK;
}

int plot_get_info(const plot *p, plot_info *i)
{
    if (!p || !p->kind)
        return nm_seterr("plot: nothing drawn yet");
    *i = p->info;
    i->width = cairo_image_surface_get_width(p->surf);
    i->height = cairo_image_surface_get_height(p->surf);
    i->dpi = p->dpi;
    i->data = p->data;
    return NM_OK;
}

int plot_save(plot *p, const char *path)
{
    if (!p)
        return nm_seterr("plot_save: no plot");
    if (!path || !*path)
        return nm_seterr("plot_save: empty file name");
    if (!p->kind)
        return nm_seterr("%s: nothing drawn yet (call plot_bars, plot_heatmap, ... first)", path);
    if (plot_check_cairo(p, path) != NM_OK)
        return NM_ERR;
    viz_png_text t[3];
    int n = 0;
    t[n++] = (viz_png_text){"Software", "nmlab " NMLAB_VERSION};
    t[n++] = (viz_png_text){"Title", p->title ? p->title : p->kind};
    if (p->params)
        t[n++] = (viz_png_text){"Parameters", p->params};
    return viz_png_write(p->surf, path, t, n, p->dpi);
}
