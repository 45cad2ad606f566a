/* TUI views rendered into an in-memory grid: text snapshots and cell styles
 * checked against masks set by hand. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prune.h"
#include "workbench.h"

static nm_model *small_model(void)
{
    nm_model *m = nm_model_new("small", 2, 6, 6);
    nm_add_conv(m, "convA", NM_INPUT, 4, 2, 2, 1, 0, 1, 0); /* W: 4 x 8 */
    nm_add_relu(m, "reluA", NM_PREV, 0);
    nm_add_flatten(m, "flat", NM_PREV);
    cr_assert(nm_add_linear(m, "fc", NM_PREV, 3, 1) >= 0, "%s", nm_errmsg());
    nm_model_init_weights(m, 3);
    return m;
}

Test(tui_grid, text_and_clipping)
{
    tui_grid *g = tui_grid_new(10, 2, 1);
    tui_text(g, 8, 0, 0, TUI_S_NORMAL, "abcdef");
    tui_text(g, 0, 1, 3, TUI_S_NORMAL, "h\xc3\xa9llo"); /* é is one cell */
    char *t = tui_grid_text(g);
    cr_assert_str_eq(t, "        ab\nh\xc3\xa9l\n");
    free(t);
    tui_grid_free(g);
    g = tui_grid_new(4, 1, 0); /* ASCII mode replaces non-ASCII */
    tui_text(g, 0, 0, 0, TUI_S_NORMAL, "\xc3\xa9x");
    t = tui_grid_text(g);
    cr_assert_str_eq(t, "?x\n");
    free(t);
    tui_grid_free(g);
}

Test(tui_views, layers_table_shows_density_from_mask)
{
    nm_model *m = small_model();
    nm_layer *l = &m->layers[0];
    nm_layer_ensure_mask(l);
    /* prune 3 of the 32 weights by hand: density 29/32 = 90.6% */
    nm_u8(l->mask)[0] = nm_u8(l->mask)[5] = nm_u8(l->mask)[31] = 0;
    l->filters = nm_tensor_new4(NM_U8, 1, 4, 0, 0, 0);
    nm_tensor_fill(l->filters, 1);
    nm_u8(l->filters)[2] = 0;
    wb_state s = {0};
    s.model = m;
    tui_grid *g = tui_grid_new(120, 12, 1);
    view_layers(g, &s, 0, 0, 120, 12);
    char *t = tui_grid_text(g);
    cr_assert(strstr(t, "convA"), "%s", t);
    cr_assert(strstr(t, " 90.6%"), "density from the mask, got:\n%s", t);
    cr_assert(strstr(t, "3/4"), "filters kept, got:\n%s", t);
    cr_assert(strstr(t, "4x2x2x2"), "%s", t);
    /* MACs of convA: 5*5 positions * 32 weights = 800 */
    cr_assert(strstr(t, "800"), "%s", t);
    /* the selected row (0) is marked with '>' */
    cr_assert(strstr(t, ">  1"), "%s", t);
    free(t);
    tui_grid_free(g);
    nm_model_free(m);
}

/* With the owner's stats cache set, the views draw the cached figures and
 * do not count the weights again (the cache here says half of convA is
 * pruned while the model itself is dense); the same cache, counted from
 * the model, gives what the views count themselves. */
Test(tui_views, layers_table_uses_stats_cache)
{
    nm_model *m = small_model();
    nm_layer_stats st[4];
    for (int i = 0; i < 4; i++)
        nm_layer_stats_get(m, i, &st[i]);
    wb_state s = {0};
    s.model = m;
    tui_grid *g = tui_grid_new(120, 12, 1);
    view_header(g, &s);
    view_layers(g, &s, 0, 2, 120, 10);
    char *own = tui_grid_text(g);
    s.stats = st;
    tui_grid_clear(g);
    view_header(g, &s);
    view_layers(g, &s, 0, 2, 120, 10);
    char *cached = tui_grid_text(g);
    cr_assert_str_eq(cached, own, "the cache counted from the model must draw the same");
    st[0].nonzeros = st[0].params / 2;
    st[0].density = 0.5;
    tui_grid_clear(g);
    view_header(g, &s);
    view_layers(g, &s, 0, 2, 120, 10);
    char *t = tui_grid_text(g);
    cr_assert(strstr(t, " 50.0%"), "convA's cached density, got:\n%s", t);
    int64_t nz = 0, params = 0;
    for (int i = 0; i < 4; i++)
        nz += st[i].nonzeros, params += st[i].params;
    char want[64];
    snprintf(want, sizeof want, "density %.1f%%", 100.0 * (double)nz / (double)params);
    cr_assert(strstr(t, want), "header from the cache: want '%s', got:\n%s", want, t);
    cr_assert(!strstr(own, want), "the check cannot tell cache from model");
    free(own), free(cached), free(t);
    tui_grid_free(g);
    nm_model_free(m);
}

Test(tui_views, layers_sort_by_density)
{
    nm_model *m = small_model();
    nm_layer *fc = &m->layers[3];
    nm_layer_ensure_mask(fc);
    memset(fc->mask->data, 0, 10); /* fc density 38/48 < convA's 1.0 */
    wb_state s = {0};
    s.model = m;
    s.sort = WB_SORT_DENSITY;
    int order[4];
    wb_layer_order(&s, order);
    cr_assert_eq(order[0], 3, "lowest density first");
    nm_model_free(m);
}

Test(tui_views, mask_glyph_mode_marks_pruned_cells)
{
    nm_model *m = small_model();
    nm_layer *l = &m->layers[0];
    nm_layer_ensure_mask(l);
    nm_u8(l->mask)[1 * 8 + 3] = 0; /* row 1, col 3 */
    wb_state s = {0};
    s.model = m;
    s.selected = 0;
    s.zoom = 1;
    s.cur_r = 3, s.cur_c = 7;
    tui_grid *g = tui_grid_new(40, 10, 1);
    view_mask(g, &s, 0, 0, 40, 10);
    /* matrix starts at (2, 2): row r is grid row 2 + r, column c is grid col 2 + c */
    const tui_cell *pruned = tui_at(g, 2 + 3, 2 + 1);
    cr_assert_eq(pruned->ch, 0x00B7, "pruned glyph, got U+%04X", pruned->ch);
    cr_assert_eq(pruned->style, TUI_S_BAD);
    const tui_cell *kept = tui_at(g, 2 + 2, 2 + 1);
    cr_assert_neq(kept->ch, 0x00B7);
    cr_assert(kept->style >= TUI_S_RAMP0 && kept->style <= TUI_S_RAMP7);
    const tui_cell *cur = tui_at(g, 2 + 7, 2 + 3);
    cr_assert_eq(cur->style, TUI_S_CURSOR, "the cursor has its own style, not the selection's (yellow, as the ramp's top)");
    char *t = tui_grid_text(g);
    cr_assert(strstr(t, "w[4, 8]"), "1-based as in Lua: %s", t);
    cr_assert(strstr(t, "kept"), "%s", t);
    free(t);
    tui_grid_free(g);
    nm_model_free(m);
}

Test(tui_views, mask_downsamples_large_layers_with_density)
{
    nm_model *m = nm_model_new("big", 64, 4, 4);
    cr_assert(nm_add_conv(m, "wide", NM_INPUT, 256, 3, 3, 1, 1, 1, 0) >= 0);
    nm_model_init_weights(m, 1);
    nm_layer *l = &m->layers[0]; /* 256 x 576 */
    nm_layer_ensure_mask(l);
    /* prune the whole left half of every row: first 288 columns */
    for (int r = 0; r < 256; r++)
        memset(nm_u8(l->mask) + r * 576, 0, 288);
    wb_state s = {0};
    s.model = m;
    s.color = 1;
    tui_grid *g = tui_grid_new(80, 24, 1);
    view_mask(g, &s, 0, 0, 80, 24);
    char *t = tui_grid_text(g);
    cr_assert(strstr(t, "downsampled"), "never silently truncated:\n%s", t);
    free(t);
    /* fit: ceil(576/77) = 8 columns per char, ceil(256/(21*2)) = 7 rows per half */
    cr_assert_eq(s.mask_scale.zc, 8);
    cr_assert_eq(s.mask_scale.zr, 7);
    const tui_cell *left = tui_at(g, 2 + 5, 2 + 3), *right = tui_at(g, 2 + 60, 2 + 3);
    cr_assert_eq(left->style, TUI_S_BAD, "fully pruned block");
    cr_assert_eq(right->style, TUI_S_RAMP7, "fully kept block");
    /* 576/8 = 72 characters wide: nothing past column 2+72 */
    cr_assert_eq(tui_at(g, 2 + 72, 2 + 3)->ch, ' ');
    cr_assert_neq(tui_at(g, 2 + 71, 2 + 3)->ch, ' ');
    tui_grid_free(g);
    nm_model_free(m);
}

Test(tui_views, console_log_and_too_small)
{
    wb_state s = {0};
    wb_log_add(&s.log, WB_LOG_INPUT, "x = 1");
    wb_log_add(&s.log, WB_LOG_ERROR, "line one\nline two");
    cr_assert_eq(s.log.count, 3);
    strcpy(s.input, "print(x)");
    s.input_len = s.input_cursor = 8;
    tui_grid *g = tui_grid_new(40, 6, 1);
    view_console(g, &s, 0, 0, 40, 6);
    cr_assert_eq(tui_at(g, 1, 3)->style, TUI_S_BAD);
    char *t = tui_grid_text(g);
    cr_assert(strstr(t, "line two\n > print(x)"), "%s", t);
    free(t);
    view_too_small(g, 80, 24);
    t = tui_grid_text(g);
    cr_assert(strstr(t, "too small: 40x6"), "%s", t);
    free(t);
    tui_grid_free(g);
    for (int i = 0; i < 1500; i++)
        wb_log_add(&s.log, WB_LOG_OUT, "x");
    cr_assert_eq(s.log.count, WB_LOG_LINES);
    wb_log_clear(&s.log);
}

Test(tui_views, energy_bars_scale_with_energy)
{
    wb_state s = {0};
    s.have_energy = 1;
    wb_energy *e = &s.energy;
    e->n_systems = 2;
    e->n_comp = 2;
    e->comp[0] = "mult";
    e->comp[1] = "sram";
    snprintf(e->system[0], 48, "pmac 32x32");
    snprintf(e->system[1], 48, "nm 16x16");
    e->pj[0][0] = 3e9, e->pj[0][1] = 1e9;   /* 4 mJ */
    e->pj[1][0] = 0.5e9, e->pj[1][1] = 0.5e9; /* 1 mJ: a quarter */
    snprintf(e->switches, sizeof e->switches, "switches: gated");
    tui_grid *g = tui_grid_new(100, 20, 0);
    view_energy(g, &s, 0, 0, 100, 20);
    /* count the glyph cells of each system's bar (rows 3 and 5, under the
     * switches and the "whole model" heading) */
    int n0 = 0, n1 = 0, m0 = 0;
    for (int x = 22; x < 100 - 23; x++) {
        n0 += tui_at(g, x, 3)->ch != ' ';
        n1 += tui_at(g, x, 5)->ch != ' ';
        m0 += tui_at(g, x, 3)->ch == '#';
    }
    int bar_w = 100 - 22 - 24;
    cr_assert_eq(n0, bar_w, "the largest system fills the bar");
    cr_assert(n1 >= bar_w / 4 - 1 && n1 <= bar_w / 4 + 1, "a quarter of the energy, a quarter of the bar: %d of %d", n1, bar_w);
    cr_assert(m0 >= bar_w * 3 / 4 - 1 && m0 <= bar_w * 3 / 4 + 1, "mult is 3/4 of system 0: %d", m0);
    char *t = tui_grid_text(g);
    cr_assert(strstr(t, "4 mJ"), "%s", t);
    cr_assert(strstr(t, "0.25x the energy of pmac 32x32"), "%s", t);
    free(t);
    tui_grid_free(g);
}

Test(tui_views, array_grid_glyphs_follow_pe_state)
{
    wb_state s = {0};
    s.have_array = 1;
    wb_array *a = &s.array;
    int32_t grid[4 * 4];
    double busy[16] = {0};
    for (int i = 0; i < 16; i++)
        grid[i] = i % 3 == 0 ? -1 : i;
    a->grid = grid;
    a->pe_busy = busy;
    a->rows = a->cols = 4;
    a->phase = 1;
    a->cycle = 5;
    a->total_cycles = 40;
    a->folds = 2;
    snprintf(a->layer, sizeof a->layer, "conv1");
    snprintf(a->config, sizeof a->config, "pmac 4x4 ws");
    tui_grid *g = tui_grid_new(100, 24, 0);
    view_array(g, &s, 0, 0, 100, 24);
    for (int i = 0; i < 16; i++) {
        const tui_cell *c = tui_at(g, 1 + (i % 4) * 2, 3 + i / 4);
        cr_assert_eq(c->ch, i % 3 == 0 ? '.' : '#', "PE %d", i);
        cr_assert_eq(c->style, i % 3 == 0 ? TUI_S_IDLE : TUI_S_BUSY);
    }
    char *t = tui_grid_text(g);
    cr_assert(strstr(t, "10/16 busy now"), "%s", t);
    cr_assert(strstr(t, "cycle 5 / 40"), "%s", t);
    free(t);
    tui_grid_free(g);
}

Test(tui_views, activations_mark_kept_and_dropped)
{
    /* a 2:4 window [1, 5, 3, -2] under `first` keeps 1 and 5 (JOINTNF.md) */
    float before[4] = {1, 5, 3, -2}, after[4] = {1, 5, 0, 0};
    wb_state s = {0};
    s.have_act = 1;
    wb_act *a = &s.act;
    a->before = before, a->after = after;
    a->h = 1, a->w = 4, a->channels = 1, a->n = 2, a->m = 4;
    snprintf(a->layer, sizeof a->layer, "relu1");
    snprintf(a->sample, sizeof a->sample, "hand-made");
    tui_grid *g = tui_grid_new(100, 20, 0);
    view_activations(g, &s, 0, 0, 100, 20);
    /* 4 cells in a 31-wide box: two characters per cell, value i at 2i, 2i+1 */
    int mapw = (100 * 2 / 3 - 4) / 2, ax = 3 + mapw;
    for (int k = 0; k < 2; k++) {
        cr_assert_eq(tui_at(g, ax + 4 + k, 2)->ch, 'x', "3 is positive but dropped by 2:4");
        cr_assert_eq(tui_at(g, ax + 4 + k, 2)->style, TUI_S_BAD);
        cr_assert_eq(tui_at(g, ax + 6 + k, 2)->ch, '.', "-2 is zero after ReLU, not an N:M drop");
        cr_assert(tui_at(g, ax + 2 + k, 2)->style >= TUI_S_RAMP0, "5 kept");
        cr_assert_eq(tui_at(g, 1 + 6 + k, 2)->ch, '-', "negative before ReLU");
    }
    cr_assert_eq(tui_at(g, ax + 8, 2)->ch, ' ', "the map ends after 4 cells");
    char *t = tui_grid_text(g);
    cr_assert(strstr(t, "kept 2"), "%s", t);
    cr_assert(strstr(t, "dropped by N:M 1"), "%s", t);
    cr_assert(strstr(t, "positive 3 of 4"), "%s", t);
    free(t);
    tui_grid_free(g);
}

/* Fit scales the axes apart: 64 x 576 in a 120x40 area (117 x 37 characters,
 * 74 half rows) is 5 columns per character but 1 row per half: the
 * matrix fills 32 character rows instead of 7 under one square factor. */
Test(tui_views, mask_fit_scales_axes_apart)
{
    nm_model *m = nm_model_new("tall", 64, 4, 4);
    cr_assert(nm_add_conv(m, "c", NM_INPUT, 64, 3, 3, 1, 1, 1, 0) >= 0);
    nm_model_init_weights(m, 1);
    wb_state s = {0};
    s.model = m;
    s.color = 1;
    tui_grid *g = tui_grid_new(120, 40, 1);
    view_mask(g, &s, 0, 0, 120, 40);
    cr_assert_eq(s.mask_scale.zc, 5);
    cr_assert_eq(s.mask_scale.zr, 1);
    cr_assert_neq(tui_at(g, 2, 2 + 31)->ch, ' ', "row 31 of characters holds matrix rows 62-63");
    cr_assert_eq(tui_at(g, 2, 2 + 32)->ch, ' ', "nothing below the 64 rows");
    /* 576 / 5 -> 116 characters (the last holds one column) */
    cr_assert_neq(tui_at(g, 2 + 115, 2)->ch, ' ');
    cr_assert_eq(tui_at(g, 2 + 116, 2)->ch, ' ');
    tui_grid_free(g);
    nm_model_free(m);
}

/* Small matrices are magnified with square-looking cells: convA's 4 x 8 in
 * a 40x10 area (37 x 7 characters, 14 half rows) gets min(14/4, 37/8) = 3
 * characters and 3 half rows per cell. A pruned cell (1, 3) then covers
 * characters 9-11 and half rows 3-5: the lower half of character row 1 and
 * all of row 2. The mouse maps back through the same scale. */
Test(tui_views, mask_magnifies_small_matrices)
{
    nm_model *m = small_model();
    nm_layer *l = &m->layers[0];
    nm_layer_ensure_mask(l);
    nm_u8(l->mask)[1 * 8 + 3] = 0;
    wb_state s = {0};
    s.model = m;
    s.color = 1;
    tui_grid *g = tui_grid_new(40, 10, 1);
    view_mask(g, &s, 0, 0, 40, 10);
    cr_assert_eq(s.mask_scale.mc, 3);
    cr_assert_eq(s.mask_scale.mr, 3);
    char *t = tui_grid_text(g);
    cr_assert(strstr(t, "magnif"), "the title says so (clipped at 40 columns):\n%s", t);
    free(t);
    for (int i = 9; i <= 11; i++) {
        cr_assert_neq(tui_at(g, 2 + i, 2 + 1)->style, TUI_S_BAD, "upper half of row 1 is cell (1, %d)", i / 3);
        cr_assert_eq(tui_at(g, 2 + i, 2 + 1)->style2, TUI_S_BAD, "char %d, lower half of row 1", i);
        cr_assert_eq(tui_at(g, 2 + i, 2 + 2)->style, TUI_S_BAD, "char %d, row 2", i);
        cr_assert_eq(tui_at(g, 2 + i, 2 + 2)->style2, TUI_S_BAD, "char %d, row 2", i);
    }
    cr_assert_neq(tui_at(g, 2 + 8, 2 + 2)->style, TUI_S_BAD, "cell (1, 2) is kept");
    cr_assert_neq(tui_at(g, 2 + 12, 2 + 2)->style, TUI_S_BAD, "cell (1, 4) is kept");
    /* 8 columns x 3 = 24 characters, 4 rows x 3 half rows = 6 character rows */
    cr_assert_neq(tui_at(g, 2 + 23, 2)->ch, ' ');
    cr_assert_eq(tui_at(g, 2 + 24, 2)->ch, ' ');
    cr_assert_neq(tui_at(g, 2, 2 + 5)->ch, ' ');
    cr_assert_eq(tui_at(g, 1, 2 + 6)->ch, 'l', "the legend row follows the 6 matrix rows");
    int64_t r, c;
    wb_mask_cell_at(&s, 10, 2, &r, &c);
    cr_assert_eq(c, 3);
    cr_assert_eq(r, 1, "character row 2 starts at half row 4, in cell row 1");
    /* an explicit zoom of -2 magnifies 2x whatever fits */
    s.zoom = -2;
    tui_grid_clear(g);
    view_mask(g, &s, 0, 0, 40, 10);
    cr_assert_eq(s.mask_scale.mc, 2);
    cr_assert_eq(tui_at(g, 2 + 16, 2)->ch, ' ');
    cr_assert_neq(tui_at(g, 2 + 15, 2)->ch, ' ');
    tui_grid_free(g);
    nm_model_free(m);
}

/* The Energy screen's per-layer part, from hand-made figures: the selected
 * layer's bars are scaled to its largest system (4 uJ fills the bar, 2 uJ
 * half of it) and the table lists each layer's total per system in uJ,
 * the selected row highlighted. */
Test(tui_views, energy_per_layer_bars_and_table)
{
    static const char *names[3] = {"convA", "convB", "fc"};
    static const double sysA[3] = {1e6, 4e6, 0.5e6}, sysB[3] = {2e6, 2e6, 0.25e6};
    wb_state s = {0};
    s.have_energy = 1;
    wb_energy *e = &s.energy;
    e->n_systems = 2, e->n_comp = 2;
    e->comp[0] = "mult", e->comp[1] = "SRAM w";
    snprintf(e->system[0], sizeof e->system[0], "sysA");
    snprintf(e->system[1], sizeof e->system[1], "sysB");
    e->pj[0][0] = 5.5e6, e->pj[1][0] = 4.25e6;
    e->n_layers = 3, e->layer_names = names;
    e->layer_pj[0] = sysA, e->layer_pj[1] = sysB;
    e->layer_sel = 1;
    e->sel_pj[0][0] = 3e6, e->sel_pj[0][1] = 1e6; /* 4 uJ */
    e->sel_pj[1][0] = 2e6;                        /* 2 uJ */
    tui_grid *g = tui_grid_new(100, 30, 1);
    view_energy(g, &s, 0, 0, 100, 30);
    char *t = tui_grid_text(g);
    cr_assert(strstr(t, "layer convB"), "%s", t);
    cr_assert(strstr(t, "4 uJ") && strstr(t, "2 uJ"), "%s", t);
    cr_assert(strstr(t, "4.000") && strstr(t, "0.250"), "the table in uJ:\n%s", t);
    /* find the selected layer's two bar rows: the lines after "layer convB" */
    int ysel = -1;
    for (int y = 0; y < 30 && ysel < 0; y++)
        if (tui_at(g, 1, y)->ch == 'l' && tui_at(g, 7, y)->ch == 'c' && tui_at(g, 11, y)->ch == 'B')
            ysel = y;
    cr_assert_geq(ysel, 0, "%s", t);
    int lenA = 0, lenB = 0;
    for (int xx = 22; xx < 100; xx++) {
        lenA += tui_at(g, xx, ysel + 1)->ch == '#' || tui_at(g, xx, ysel + 1)->ch == '=';
        lenB += tui_at(g, xx, ysel + 2)->ch == '#' || tui_at(g, xx, ysel + 2)->ch == '=';
    }
    int bar_w = 100 - 22 - 24;
    cr_assert_eq(lenA, bar_w, "4 uJ fills the bar");
    cr_assert(abs(2 * lenB - lenA) <= 1, "2 uJ is half: %d vs %d", lenB, lenA);
    /* the three SRAM-w cells of sysA's bar: 1 of 4 uJ = a quarter */
    int eq = 0;
    for (int xx = 22; xx < 100; xx++)
        eq += tui_at(g, xx, ysel + 1)->ch == '=';
    cr_assert(abs(4 * eq - bar_w) <= 2, "SRAM w is a quarter of the bar: %d of %d", eq, bar_w);
    /* the selected table row is highlighted */
    int found = 0;
    for (int y = ysel + 3; y < 30; y++)
        if (tui_at(g, 1, y)->ch == 'c' && tui_at(g, 5, y)->ch == 'B') {
            cr_assert_eq(tui_at(g, 1, y)->style, TUI_S_SELECTED);
            /* and the row is clickable: the mouse selects convB there */
            cr_assert_str_eq(wb_hit_at(&s, 30, y), "convB");
            cr_assert_str_eq(wb_hit_at(&s, 3, y + 1), "fc");
            cr_assert_null(wb_hit_at(&s, 3, ysel), "the heading is not a layer row");
            found = 1;
        }
    cr_assert(found, "%s", t);
    free(t);
    tui_grid_free(g);
}

/* A 4 x 36 conv (4 input channels, 3x3 kernels) pruned 2:4: the Mask
 * screen's ruler follows the engine's groups. Along `kernel` the groups
 * restart at every kernel (columns 0, 4, 8 | 9, 13, 17 | ...), never at 12;
 * along `in` a group is 4 channels at one (kh, kw), its columns 9 apart
 * (0, 9, 18, 27 for the cursor at column 0). */
static nm_model *conv3x3_model(void)
{
    nm_model *m = nm_model_new("k3", 4, 6, 6);
    cr_assert(nm_add_conv(m, "conv", NM_INPUT, 4, 3, 3, 1, 1, 1, 0) >= 0, "%s", nm_errmsg());
    nm_model_init_weights(m, 5);
    return m;
}

static int ruler_has(tui_grid *g, int64_t c) { return tui_at(g, 2 + (int)c, 1)->ch != ' '; }

Test(tui_views, mask_ruler_follows_kernel_groups)
{
    nm_model *m = conv3x3_model();
    nm_layer *l = &m->layers[0];
    cr_assert_eq(nm_prune_nm_layer(l, 2, 4, NM_GROUP_KERNEL), NM_OK, "%s", nm_errmsg());
    wb_state s = {0};
    s.model = m;
    s.zoom = 1;
    s.mask_axis = NM_GROUP_KERNEL + 1;
    s.cur_c = 35; /* the last kernel's trailing group of one: column 35 */
    tui_grid *g = tui_grid_new(120, 12, 1);
    view_mask(g, &s, 0, 0, 120, 12);
    for (int64_t c = 0; c < 36; c++) {
        int start = c % 9 == 0 || (c % 9) % 4 == 0; /* 0 4 8 | 9 13 17 | ... */
        cr_assert_eq(ruler_has(g, c), start, "column %lld: tick %d, want %d", (long long)c, ruler_has(g, c), start);
    }
    char *t = tui_grid_text(g);
    cr_assert(strstr(t, "2:4 in each 3x3 kernel"), "%s", t);
    cr_assert(strstr(t, "its group keeps 1 of 1"), "%s", t);
    free(t);
    tui_grid_free(g);
    nm_model_free(m);
}

Test(tui_views, mask_ruler_marks_strided_in_groups)
{
    nm_model *m = conv3x3_model();
    nm_layer *l = &m->layers[0];
    cr_assert_eq(nm_prune_nm_layer(l, 2, 4, NM_GROUP_IN), NM_OK, "%s", nm_errmsg());
    wb_state s = {0};
    s.model = m;
    s.zoom = 1;
    s.mask_axis = NM_GROUP_IN + 1;
    s.cur_c = 9; /* c_in 1, (0, 0): its group is columns 0, 9, 18, 27 */
    tui_grid *g = tui_grid_new(120, 12, 1);
    view_mask(g, &s, 0, 0, 120, 12);
    for (int64_t c = 0; c < 36; c++) {
        int member = c % 9 == 0;
        cr_assert_eq(ruler_has(g, c), member, "column %lld", (long long)c);
        if (member)
            cr_assert_eq(tui_at(g, 2 + (int)c, 1)->ch, 0x25BE, "group member mark at %lld", (long long)c);
    }
    /* the group of the cursor really keeps 2 of its 4 columns */
    int kept = 0;
    for (int c = 0; c < 36; c += 9)
        kept += nm_u8(l->mask)[c] != 0;
    cr_assert_eq(kept, 2);
    char *t = tui_grid_text(g);
    cr_assert(strstr(t, "along c_in (a group's columns are 9 apart)"), "%s", t);
    cr_assert(strstr(t, "its group keeps 2 of 4"), "%s", t);
    free(t);
    tui_grid_free(g);
    nm_model_free(m);
}

/* Long names that share a prefix (ViT) lose their middle, not their
 * distinguishing end: at 80 columns every row used to read the same
 * "encoder.layers.encoder_layer_". */
Test(tui_views, layer_names_elide_the_middle)
{
    nm_model *m = nm_model_new("vitish", 16, 1, 1);
    nm_add_flatten(m, "flat", NM_INPUT);
    cr_assert(nm_add_linear(m, "encoder.layers.encoder_layer_0.mlp.fc1", NM_PREV, 16, 0) >= 0, "%s", nm_errmsg());
    cr_assert(nm_add_linear(m, "encoder.layers.encoder_layer_1.mlp.fc1", NM_PREV, 16, 0) >= 0, "%s", nm_errmsg());
    nm_model_init_weights(m, 2);
    wb_state s = {0};
    s.model = m;
    tui_grid *g = tui_grid_new(80, 8, 1);
    view_layers(g, &s, 0, 0, 80, 8);
    char *t = tui_grid_text(g);
    cr_assert(strstr(t, "ayer_0.mlp.fc1 "), "the end of the first name, got:\n%s", t);
    cr_assert(strstr(t, "ayer_1.mlp.fc1 "), "the end of the second name, got:\n%s", t);
    cr_assert(strstr(t, "encoder\xe2\x80\xa6"), "the middle is elided with an ellipsis, got:\n%s", t);
    free(t);
    /* a name that fits is drawn whole */
    tui_grid_clear(g);
    cr_assert_eq(wb_text_elide(g, 0, 0, 10, TUI_S_NORMAL, "conv1"), 5);
    cr_assert_eq(tui_at(g, 4, 0)->ch, '1');
    tui_grid_clear(g);
    cr_assert_eq(wb_text_elide(g, 0, 0, 10, TUI_S_NORMAL, "abcdefghijklmnop"), 10);
    t = tui_grid_text(g);
    cr_assert(strncmp(t, "abc\xe2\x80\xa6klmnop", strlen("abc\xe2\x80\xa6klmnop")) == 0, "%s", t);
    free(t);
    /* the layer number before the last part survives with that part */
    tui_grid_clear(g);
    cr_assert_eq(wb_text_elide(g, 0, 0, 22, TUI_S_NORMAL, "encoder.layers.encoder_layer_11.self_attention.in_proj"), 22);
    t = tui_grid_text(g);
    cr_assert(strstr(t, "ayer_11\xe2\x80\xa6") && strstr(t, "in_proj"), "%s", t);
    free(t);
    tui_grid_free(g);
    nm_model_free(m);
}

/* Presentation mode: in colour the Mask draws one matrix row per character
 * (no half blocks, cells twice as tall), the Array draws PEs 2 wide. */
Test(tui_views, presentation_mode_draws_larger_cells)
{
    nm_model *m = small_model();
    nm_layer *l = &m->layers[0];
    nm_layer_ensure_mask(l);
    nm_u8(l->mask)[1 * 8 + 3] = 0;
    wb_state s = {0};
    s.model = m;
    s.color = 1;
    tui_grid *g = tui_grid_new(60, 20, 1);
    view_mask(g, &s, 0, 0, 60, 20);
    cr_assert_eq(s.mask_scale.sub, 2, "half blocks normally");
    s.present = 1;
    tui_grid_clear(g);
    view_mask(g, &s, 0, 0, 60, 20);
    cr_assert_eq(s.mask_scale.sub, 1, "whole characters in presentation mode");
    cr_assert(s.mask_scale.mr >= 2, "a 4 x 8 matrix is still magnified: %d", s.mask_scale.mr);
    /* cell (1, 3) is pruned: every character of it, full height */
    int mr = s.mask_scale.mr, mc = s.mask_scale.mc;
    for (int j = 0; j < mr; j++)
        for (int i = 0; i < mc; i++) {
            const tui_cell *c = tui_at(g, 2 + 3 * mc + i, 2 + mr + j);
            cr_assert_eq(c->style, TUI_S_BAD, "char (%d, %d) of cell (1, 3)", i, j);
            cr_assert_neq(c->ch, tui_glyph_upper_half(g), "no half block");
        }
    tui_grid_free(g);
    nm_model_free(m);
}

/* The roofline table (Array screen, key R) prints each layer's numbers as
 * given and the bound; the switch line is wrapped whole, not cut. */
Test(tui_views, roofline_table_lists_bounds_and_wraps_config)
{
    wb_state s = {0};
    s.have_array = 1;
    wb_array *a = &s.array;
    static const char *names[2] = {"convA", "fc"};
    wb_layer_mem lm[2] = {
        {.compute = 1000, .stall = 0, .mem_cycles = 400.5, .dram_words = 4005, .dram_pj = 2.5e6,
         .intensity = 12.25, .mem_bound = 0},
        {.compute = 300, .stall = 700, .mem_cycles = 1000, .dram_words = 10000, .dram_pj = 7e6,
         .intensity = 0.5, .mem_bound = 1},
    };
    double util[2] = {0.5, 0.1}, mutil[2] = {0.5, 0.1};
    int64_t cycles[2] = {1000, 1000};
    a->n_layers = 2, a->layer_names = names, a->layer_util = util, a->layer_mult_util = mutil;
    a->layer_cycles = cycles, a->layer_mem = lm;
    a->total_mem = (wb_layer_mem){.compute = 1300, .stall = 700, .mem_cycles = 1400.5,
                                  .dram_words = 14005, .dram_pj = 9.5e6, .intensity = 3.5};
    a->mem = 1, a->roofline = 1;
    snprintf(a->mem_desc, sizeof a->mem_desc, "64 KB SRAMs, 10 words/cycle");
    snprintf(a->layer, sizeof a->layer, "fc");
    char cfg[400];
    snprintf(cfg, sizeof cfg, "mac=pmac array=4x4 %0*d mem=ifmap64KB,bw=10", 150, 0);
    snprintf(a->config, sizeof a->config, "%s", cfg);
    tui_grid *g = tui_grid_new(120, 24, 0);
    view_array(g, &s, 0, 0, 120, 24);
    char *t = tui_grid_text(g);
    cr_assert(strstr(t, "memory: 64 KB SRAMs, 10 words/cycle"), "%s", t);
    cr_assert(strstr(t, "mem=ifmap64KB,bw=10"), "the end of a 190-character switch line: %s", t);
    cr_assert(strstr(t, " convA                        1000        400.5           0          4005      12.25     2.5000  compute"), "%s", t);
    cr_assert(strstr(t, " fc                            300       1000.0         700         10000       0.50     7.0000  memory"), "%s", t);
    cr_assert(strstr(t, "1 of 2 memory-bound"), "%s", t);
    free(t);
    /* the array view's per-layer list: stall and DRAM columns and a total */
    a->roofline = 0;
    a->rows = a->cols = 4, a->phase = 1;
    tui_grid_free(g);
    g = tui_grid_new(120, 24, 0);
    view_array(g, &s, 0, 0, 120, 24);
    t = tui_grid_text(g);
    cr_assert(strstr(t, "layer              util cycles  stall  DRAM uJ"), "%s", t);
    cr_assert(strstr(t, "10% 1.00 k    700    7.000"), "%s", t);
    cr_assert(strstr(t, "total                   2.00 k    700    9.500"), "%s", t);
    free(t);
    tui_grid_free(g);
}

/* The Energy screen with the memory model: each system's stall and DRAM
 * energy in the totals, and the stall per layer. */
Test(tui_views, energy_shows_stall_and_dram_with_memory)
{
    wb_state s = {0};
    s.have_energy = 1;
    wb_energy *e = &s.energy;
    e->n_systems = 2, e->n_comp = 2, e->mem = 1;
    static const char *comp[2] = {"mult", "DRAM"};
    e->comp[0] = comp[0], e->comp[1] = comp[1];
    snprintf(e->system[0], sizeof e->system[0], "pmac 32x32");
    snprintf(e->system[1], sizeof e->system[1], "nm 16x16");
    snprintf(e->mem_desc, sizeof e->mem_desc, "64 KB SRAMs, 2 words/cycle");
    e->pj[0][0] = 1e6, e->pj[0][1] = 3e6, e->pj[1][0] = 1e6, e->pj[1][1] = 1e6;
    e->total_mem[0] = (wb_layer_mem){.stall = 1234, .dram_pj = 3e6};
    e->total_mem[1] = (wb_layer_mem){.stall = 0, .dram_pj = 1e6};
    static const char *names[1] = {"conv1"};
    double pj0[1] = {4e6}, pj1[1] = {2e6};
    wb_layer_mem m0[1] = {{.stall = 1234}}, m1[1] = {{.stall = 0}};
    e->n_layers = 1, e->layer_names = names, e->layer_pj[0] = pj0, e->layer_pj[1] = pj1;
    e->layer_mem[0] = m0, e->layer_mem[1] = m1, e->layer_sel = -1;
    tui_grid *g = tui_grid_new(120, 30, 0);
    view_energy(g, &s, 0, 0, 120, 30);
    char *t = tui_grid_text(g);
    cr_assert(strstr(t, "memory: 64 KB SRAMs, 2 words/cycle, DRAM energy counted"), "%s", t);
    cr_assert(strstr(t, "stall 1.23 k cyc (1234)   DRAM 3 uJ"), "%s", t);
    cr_assert(strstr(t, "stall 0 cyc (0)   DRAM 1 uJ"), "%s", t);
    cr_assert(strstr(t, "layer (uJ, stall)"), "%s", t);
    cr_assert(strstr(t, "4.000 1.23 k"), "%s", t);
    free(t);
    tui_grid_free(g);
}

/* Line y of a grid's text (0-based), into buf. */
static const char *text_line(const char *t, int y, char *buf, size_t n)
{
    for (int i = 0; i < y && t; i++) {
        t = strchr(t, '\n');
        t = t ? t + 1 : NULL;
    }
    if (!t)
        return buf[0] = 0, buf;
    size_t k = strcspn(t, "\n");
    snprintf(buf, n, "%.*s", (int)(k < n - 1 ? k : n - 1), t);
    return buf;
}

/* The line of t holding `key` ends with `tail` (so the last figure is whole). */
static int line_ends_with(const char *t, const char *key, const char *tail)
{
    for (int y = 0; y < 200; y++) {
        char b[512];
        text_line(t, y, b, sizeof b);
        if (strstr(b, key)) {
            size_t n = strlen(b), k = strlen(tail);
            return n >= k && strcmp(b + n - k, tail) == 0;
        }
    }
    return 0;
}

/* Columns that fit: the preferred layout when it fits; else whole columns
 * go, highest priority first; a name column narrows last. */
Test(tui_views, cols_fit_drops_by_priority)
{
    const char *cells[] = {"conv1", "1234", "56", "7.5", "total", "99999", "1", "8.25"};
    wb_col c[4] = {{"layer", 0, 1, 0, 3, 12, 12, 0, 0}, {"cycles", 0, 0, 1, 0, 0, 8, 0, 0},
                   {"stall", 2, 0, 1, 0, 0, 7, 0, 0}, {"uJ", 1, 0, 1, 0, 0, 6, 0, 0}};
    cr_assert_eq(wb_cols_fit(c, 4, cells, 2, 40), 0);
    cr_assert_eq(c[0].width + c[1].width + c[2].width + c[3].width, 12 + 8 + 7 + 6, "preferred widths");
    cr_assert_eq(wb_cols_x(c, 4, 3), 12 + 1 + 8 + 1 + 7 + 1);
    /* natural: 5 + 1 + 6 + 1 + 5 + 1 + 4 = 23 */
    cr_assert_eq(wb_cols_fit(c, 4, cells, 2, 23), 0);
    cr_assert_eq(c[1].width, 6, "cycles: its header");
    /* the name narrows (to min_w 3) before any column goes */
    cr_assert_eq(wb_cols_fit(c, 4, cells, 2, 21), 0);
    cr_assert_eq(c[0].width, 3);
    cr_assert_eq(wb_cols_fit(c, 4, cells, 2, 20), 1);
    cr_assert(!c[2].shown && c[3].shown, "stall (prio 2) goes before uJ (prio 1)");
    cr_assert_eq(wb_cols_x(c, 4, 2), -1);
    cr_assert_eq(c[0].width, 5, "the room stall left goes back to the name, up to its natural width");
    char hid[64];
    wb_cols_hidden(c, 4, hid, sizeof hid);
    cr_assert_str_eq(hid, "stall");
    cr_assert_eq(wb_cols_fit(c, 4, cells, 2, 12), 2);
    cr_assert(c[0].shown && c[1].shown && !c[2].shown && !c[3].shown);
    cr_assert_eq(c[0].width, 5);
    cr_assert_eq(wb_cols_fit(c, 4, cells, 2, 10), 2);
    cr_assert_eq(c[0].width, 3, "the name at its minimum when even that is too wide");
    tui_grid *g = tui_grid_new(20, 2, 0);
    wb_cols_row(g, 0, 0, c, 4, cells + 4, TUI_S_NORMAL);
    char *t = tui_grid_text(g);
    cr_assert_str_eq(text_line(t, 0, (char[64]){0}, 64), "tot  99999", "%s", t);
    free(t);
    tui_grid_free(g);
}

/* wb_text_fit cuts after a whole word and ends in an ellipsis. */
Test(tui_views, text_fit_cuts_at_words)
{
    tui_grid *g = tui_grid_new(30, 1, 0);
    wb_text_fit(g, 0, 0, 24, TUI_S_NORMAL, "stall 150, DRAM 1.168 uJ (analytic)");
    char *t = tui_grid_text(g);
    cr_assert_str_eq(t, "stall 150, DRAM 1.168~\n", "%s", t);
    free(t);
    tui_grid_free(g);
}

/* The Array screen at 80x24 with the memory model: the roofline keeps the
 * layer, compute, stall, DRAM energy and bound whole and names what it
 * leaves out; the per-layer list keeps stall and DRAM beside the grid. */
Test(tui_views, array_memory_columns_at_80x24)
{
    wb_state s = {0};
    s.have_array = 1;
    wb_array *a = &s.array;
    static const char *names[2] = {"convA", "layer4.1.conv2"};
    wb_layer_mem lm[2] = {
        {.compute = 1234567, .stall = 0, .mem_cycles = 400.5, .dram_words = 4005, .dram_pj = 2.5e6,
         .intensity = 12.25, .mem_bound = 0},
        {.compute = 300, .stall = 7654321, .mem_cycles = 7654621.5, .dram_words = 76546215,
         .dram_pj = 1.2345e10, .intensity = 0.5, .mem_bound = 1},
    };
    double util[2] = {0.5, 0.1}, mutil[2] = {0.5, 0.1};
    int64_t cycles[2] = {1234567, 7654621};
    a->n_layers = 2, a->layer_names = names, a->layer_util = util, a->layer_mult_util = mutil;
    a->layer_cycles = cycles, a->layer_mem = lm;
    a->total_mem = (wb_layer_mem){.compute = 1234867, .stall = 7654321, .mem_cycles = 7655022,
                                  .dram_words = 76550220, .dram_pj = 1.23475e10, .intensity = 0.6};
    a->mem = 1, a->roofline = 1, a->rows = a->cols = 16, a->phase = 1;
    snprintf(a->mem_desc, sizeof a->mem_desc, "64 KB SRAMs, 10 words/cycle");
    snprintf(a->layer, sizeof a->layer, "convA");
    snprintf(a->config, sizeof a->config, "mac=nm-4:9-4:9 array=16x16");
    snprintf(a->note, sizeof a->note, "this layer: util 50%%, 1234567 cycles = 1234567 compute + 0 stall, "
                                      "DRAM 2.5 uJ (analytic; memory 64 KB SRAMs, 10 words/cycle; R roofline)");
    tui_grid *g = tui_grid_new(80, 20, 0);
    view_array(g, &s, 0, 0, 80, 20);
    char *t = tui_grid_text(g);
    cr_assert(line_ends_with(t, " convA ", " 1234567 400.5 0 12.25 2.5000  compute") ||
              line_ends_with(t, " convA ", "2.5000  compute"), "%s", t);
    cr_assert(strstr(t, " 1234567 "), "compute whole:\n%s", t);
    cr_assert(line_ends_with(t, "layer4.1.conv2", "12345.0000  memory"), "DRAM uJ whole:\n%s", t);
    cr_assert(strstr(t, " 7654321 "), "stall whole:\n%s", t);
    cr_assert(line_ends_with(t, " total ", "12347.5000  1/2 memory"), "the total's bound in short:\n%s", t);
    cr_assert(strstr(t, "\n layer4.1.conv2 "), "the name whole (narrowed only when needed):\n%s", t);
    cr_assert(line_ends_with(t, "not shown at this width: ", ": DRAM words (a wider terminal shows them)"), "%s", t);
    for (int y = 0; y < 20; y++) {
        char b[512];
        cr_assert_leq(tui_text_width(text_line(t, y, b, sizeof b)), 80);
    }
    free(t);
    tui_grid_free(g);
    /* the per-layer list beside the PE grid */
    a->roofline = 0;
    g = tui_grid_new(80, 20, 0);
    view_array(g, &s, 0, 0, 80, 20);
    t = tui_grid_text(g);
    cr_assert(line_ends_with(t, "layer ", "DRAM uJ") && strstr(t, " util cycles  stall "), "%s", t);
    cr_assert(line_ends_with(t, "convA  ", "50% 1.23 M      0     2.500"), "%s", t);
    cr_assert(line_ends_with(t, "conv2", "10% 7.65 M 7.65 M 12345.000"), "%s", t);
    cr_assert(line_ends_with(t, "total", "8.89 M 7.65 M 12347.500"), "%s", t);
    cr_assert(strstr(t, "DRAM 2.5 uJ~\n"), "the note cut after a whole word:\n%s", t);
    cr_assert(strstr(t, ". . . . . . . . . . . . . . . ."), "16 PEs, 2 characters each:\n%s", t);
    free(t);
    tui_grid_free(g);
}

/* The Energy screen at 80x24 with the memory model: each system's stall and
 * DRAM energy in the totals, whole system names, and the per-layer table
 * with the stall beside the energy; no line longer than the screen. */
Test(tui_views, energy_memory_columns_at_80x24)
{
    wb_state s = {0};
    s.have_energy = 1;
    wb_energy *e = &s.energy;
    e->n_systems = 4, e->n_comp = 2, e->mem = 1;
    static const char *comp[2] = {"mult", "DRAM"};
    e->comp[0] = comp[0], e->comp[1] = comp[1];
    const char *sys[4] = {"pmac 32x32", "bmac-3:9 20x20", "nm-4:9-4:9 16x16", "nm-6:9-4:9 15x15"};
    static const char *names[2] = {"conv1", "fc"};
    static double pj[4][2];
    static wb_layer_mem lm[4][2];
    for (int i = 0; i < 4; i++) {
        snprintf(e->system[i], sizeof e->system[i], "%s", sys[i]);
        e->pj[i][0] = 1e6 * (i + 1), e->pj[i][1] = 3e6;
        e->cycles[i] = 100000 + i;
        e->area_mm2[i] = 1.5;
        e->total_mem[i] = (wb_layer_mem){.stall = 1234 * (i + 1), .dram_pj = 3e6};
        pj[i][0] = 2.188e6, pj[i][1] = 55.81e6;
        lm[i][0] = (wb_layer_mem){.stall = 1740};
        lm[i][1] = (wb_layer_mem){.stall = 110000};
        e->layer_pj[i] = pj[i], e->layer_mem[i] = lm[i];
    }
    snprintf(e->mem_desc, sizeof e->mem_desc, "64 KB SRAMs, 10 words/cycle");
    e->n_layers = 2, e->layer_names = names, e->layer_sel = -1;
    tui_grid *g = tui_grid_new(80, 20, 0);
    view_energy(g, &s, 0, 0, 80, 20);
    char *t = tui_grid_text(g);
    cr_assert(strstr(t, "memory: 64 KB SRAMs, 10 words/cycle"), "%s", t);
    cr_assert(line_ends_with(t, "1.00x", "stall 1.23 k cyc  DRAM 3 uJ"), "%s", t);
    cr_assert(line_ends_with(t, "4.00x", "stall 4.94 k cyc  DRAM 3 uJ") ||
              line_ends_with(t, "1.75x", "stall 4.94 k cyc  DRAM 3 uJ"), "%s", t);
    cr_assert(strstr(t, "\n nm-6:9-4:9 15x15 "), "whole system names:\n%s", t);
    cr_assert(strstr(t, "layer (uJ, stall)"), "%s", t);
    cr_assert(line_ends_with(t, " conv1 ", "2.188 1.74 k"), "%s", t);
    cr_assert(line_ends_with(t, " fc ", "55.810  110 k"), "%s", t);
    for (int y = 0; y < 20; y++) {
        char b[512];
        cr_assert_leq(tui_text_width(text_line(t, y, b, sizeof b)), 80);
    }
    free(t);
    tui_grid_free(g);
    /* too narrow for the stall beside four systems' energy: the header says uJ only */
    g = tui_grid_new(60, 20, 0);
    view_energy(g, &s, 0, 0, 60, 20);
    t = tui_grid_text(g);
    cr_assert(strstr(t, "layer (uJ)"), "%s", t);
    cr_assert(line_ends_with(t, " fc ", "55.810"), "%s", t);
    cr_assert(strstr(t, "stall 1.23 k cyc"), "the totals keep the stall:\n%s", t);
    free(t);
    tui_grid_free(g);
}

/* The Runs screen from a hand-made wb_runs: the sorted column's arrow, the
 * selected row, and the plot's glyphs (front, others, selected), in UTF-8
 * and in the ASCII fallback. */
Test(tui_views, runs_table_and_pareto_glyphs)
{
    static const char *names[] = {"#", "status", "acc"};
    static const char *cells[] = {"2", "ok", "0.9", "1", "ok", "0.5", "3", "error", ""};
    static const int styles[] = {TUI_S_GOOD, TUI_S_GOOD, TUI_S_BAD};
    static const double px[] = {1, 2, 3}, py[] = {0.9, 0.5, 0.2};
    static const unsigned char front[] = {1, 0, 0};
    static const int pt_row[] = {0, 1, 2};
    for (int utf8 = 0; utf8 < 2; utf8++) {
        wb_state s;
        memset(&s, 0, sizeof s);
        wb_runs *r = &s.runs;
        r->open = 1;
        snprintf(r->title, sizeof r->title, "grid  g.db  3 points");
        r->n_cols = 3, r->n_rows = 3, r->col_names = names, r->cells = cells, r->row_style = styles;
        r->sort_col = 2, r->sort_desc = 1, r->cur_col = 2, r->selected = 1;
        r->show_plot = 1, r->x_col = 0, r->y_col = 2, r->x_min = 1, r->y_max = 1;
        r->n_pts = 3, r->px = px, r->py = py, r->front = front, r->pt_row = pt_row;
        tui_grid *g = tui_grid_new(80, 24, utf8);
        view_runs(g, &s, 0, 0, 80, 20);
        char *t = tui_grid_text(g);
        cr_assert(strstr(t, utf8 ? "acc\u25BC" : "accv"), "sort arrow:\n%s", t);
        cr_assert(strstr(t, "\n>1   ok"), "selected row:\n%s", t);
        cr_assert(strstr(t, utf8 ? "\u25cf front 1 of 3" : "* front 1 of 3"), "plot title:\n%s", t);
        /* the front point (x 1, y 0.9) top left, the selected one (row 1) as the diamond */
        cr_assert_eq(tui_at(g, 5, 12)->ch, utf8 ? 0x25cfu : (uint32_t)'*', "\n%s", t);
        cr_assert_eq(tui_at(g, 5, 12)->style, TUI_S_GOOD);
        int found_sel = 0;
        for (int y = 12; y < 20; y++)
            for (int x = 0; x < 80; x++)
                found_sel += tui_at(g, x, y)->ch == (utf8 ? 0x25c6u : (uint32_t)'@') &&
                             tui_at(g, x, y)->style == TUI_S_SELECTED;
        cr_assert_eq(found_sel, 1, "\n%s", t);
        free(t);
        tui_grid_free(g);
    }
}
