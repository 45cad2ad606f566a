/* plot_palette.c - colour-blind-safe colours.
 *
 * Categories: the Okabe-Ito palette (Okabe & Ito, "Color Universal Design"),
 * ordered so the first colours stay apart under every common deficiency.
 * Ramps: viridis and cividis (perceptually uniform, readable in grey and by
 * deuteranopes), given as ten anchors at t = 0, 1/9, ..., 1 and interpolated
 * linearly in sRGB, which stays within a few levels of the full tables. */
#include "plot_internal.h"

#include <math.h>

static plot_rgb hex(unsigned v)
{
    plot_rgb c = {((v >> 16) & 255) / 255.0, ((v >> 8) & 255) / 255.0, (v & 255) / 255.0};
    return c;
}

static const unsigned okabe_ito[PLOT_MAX_SERIES] = {
    0x0072B2, /* blue */
    0xE69F00, /* orange */
    0x009E73, /* bluish green */
    0xD55E00, /* vermillion */
    0xCC79A7, /* reddish purple */
    0x56B4E9, /* sky blue */
    0xF0E442, /* yellow */
    0x000000, /* black (grey on the dark theme) */
};

plot_rgb plot_category_color(plot_theme th, int i)
{
    i = ((i % PLOT_MAX_SERIES) + PLOT_MAX_SERIES) % PLOT_MAX_SERIES;
    if (i == 7 && th == PLOT_THEME_DARK)
        return hex(0xBBBBBB);
    return hex(okabe_ito[i]);
}

static const unsigned viridis[10] = {
    0x440154, 0x482878, 0x3E4A89, 0x31688E, 0x26828E,
    0x1F9E89, 0x35B779, 0x6DCD59, 0xB4DE2C, 0xFDE725,
};
static const unsigned cividis[10] = {
    0x00204D, 0x00336F, 0x39486B, 0x575C6D, 0x707173,
    0x8A8779, 0xA69D75, 0xC4B56C, 0xE4CF5B, 0xFFEA46,
};

plot_rgb plot_ramp_color(plot_ramp r, double t)
{
    const unsigned *a = r == PLOT_RAMP_CIVIDIS ? cividis : viridis;
    if (!(t > 0))  /* also NaN */
        t = 0;
    if (t > 1)
        t = 1;
    double f = t * 9.0;
    int i = (int)floor(f);
    if (i >= 9)
        return hex(a[9]);
    f -= i;
    plot_rgb c0 = hex(a[i]), c1 = hex(a[i + 1]);
    plot_rgb c = {c0.r + f * (c1.r - c0.r), c0.g + f * (c1.g - c0.g), c0.b + f * (c1.b - c0.b)};
    return c;
}

void plot_theme_colors(plot_theme th, plot_colors *c)
{
    if (th == PLOT_THEME_DARK) {
        c->bg = hex(0x1E1E1E);
        c->fg = hex(0xE6E6E6);
        c->axis = hex(0xB0B0B0);
        c->grid = hex(0x3A3A3A);
        c->kept = hex(0x56B4E9);
        c->pruned = hex(0x4A4A4A);
        c->sep = hex(0xFFFFFF);
    } else {
        c->bg = hex(0xFFFFFF);
        c->fg = hex(0x222222);
        c->axis = hex(0x555555);
        c->grid = hex(0xE3E3E3);
        c->kept = hex(0x0072B2);
        c->pruned = hex(0xD9D9D9);
        c->sep = hex(0x000000);
    }
    c->marker = hex(0xD55E00);
}
