/* test_wanda.c - calibration-aware scores (Wanda): the input-feature norms
 * of nm_calib_compute against a brute-force im2col on NCHW data (a naive
 * convolution written here computes the hidden activations), and every
 * method with calib against its magnitude version on weights scaled by
 * hand (or against a ranking done here). */
#include "helpers.h"

#include "calib.h"
#include "train.h"

#define NB 3      /* calibration samples */

/* input (2, 9, 7) -> c1 conv 3x3/2 pad 1 (4 out) -> relu -> dw 3x3 pad 1
 * -> c2 conv 2x2/1 pad 0 groups g2 (6 out) -> gap -> flatten -> fc (5). */
static nm_model *small_net_g(uint64_t seed, int g2)
{
    nm_model *m = nm_model_new("wanda_net", 2, 9, 7);
    cr_assert(m);
    cr_assert(nm_add_conv(m, "c1", NM_INPUT, 4, 3, 3, 2, 1, 1, 1) >= 0);
    cr_assert(nm_add_relu(m, "r1", NM_PREV, 0) >= 0);
    cr_assert(nm_add_dwconv(m, "dw", NM_PREV, 3, 1, 1) >= 0);
    cr_assert(nm_add_conv(m, "c2", NM_PREV, 6, 2, 2, 1, 0, g2, 1) >= 0);
    cr_assert(nm_add_gap(m, "gap", NM_PREV) >= 0);
    cr_assert(nm_add_flatten(m, "flat", NM_PREV) >= 0);
    cr_assert(nm_add_linear(m, "fc", NM_PREV, 5, 1) >= 0);
    nm_model_init_weights(m, seed);
    nm_rng r;
    nm_rng_seed(&r, seed + 7);
    for (int i = 0; i < m->n_layers; i++)
        if (m->layers[i].bias)
            for (int64_t k = 0; k < m->layers[i].bias->numel; k++)
                nm_f32(m->layers[i].bias)[k] = (float)nm_rng_normal(&r) * 0.3f;
    return m;
}

static nm_model *small_net(uint64_t seed)
{
    return small_net_g(seed, 2);
}

static nm_tensor *random_input(int n, int c, int h, int w, uint64_t seed)
{
    int64_t d[4] = {n, c, h, w};
    nm_tensor *x = nm_tensor_new(NM_F32, 4, d);
    nm_rng r;
    nm_rng_seed(&r, seed);
    for (int64_t i = 0; i < x->numel; i++)
        nm_f32(x)[i] = (float)nm_rng_normal(&r);
    return x;
}

/* A plain NCHW activation in doubles. */
typedef struct {
    int n, c, h, w;
    double *v;
} act;

static double at(const act *a, int n, int c, int y, int x)
{
    if (y < 0 || y >= a->h || x < 0 || x >= a->w)
        return 0;
    return a->v[(((int64_t)n * a->c + c) * a->h + y) * a->w + x];
}

/* Naive convolution of the layer l (groups, stride, padding) on a. */
static act naive_conv(const nm_layer *l, const act *a)
{
    act o = {a->n, l->out_c, l->out_h, l->out_w, NULL};
    o.v = calloc((size_t)o.n * o.c * o.h * o.w, sizeof *o.v);
    int G = l->kind == NM_LAYER_DWCONV ? l->in_c : l->groups;
    int cin_g = l->in_c / G, cout_g = l->out_c / G;
    const float *w = nm_f32(l->weight);
    for (int n = 0; n < o.n; n++)
        for (int oc = 0; oc < o.c; oc++)
            for (int y = 0; y < o.h; y++)
                for (int x = 0; x < o.w; x++) {
                    double s = l->bias ? nm_f32(l->bias)[oc] : 0;
                    for (int c = 0; c < cin_g; c++)
                        for (int i = 0; i < l->kh; i++)
                            for (int j = 0; j < l->kw; j++)
                                s += w[(((int64_t)oc * cin_g + c) * l->kh + i) * l->kw + j] *
                                     at(a, n, (oc / cout_g) * cin_g + c, y * l->stride_h - l->pad_h + i,
                                        x * l->stride_w - l->pad_w + j);
                    o.v[(((int64_t)n * o.c + oc) * o.h + y) * o.w + x] = s;
                }
    return o;
}

/* Brute force: the explicit im2col matrix of a for layer l, rows (c, i, j)
 * of the whole input, columns (n, oy, ox); returns its row norms. */
static double *im2col_norms(const nm_layer *l, const act *a)
{
    int64_t D = (int64_t)a->c * l->kh * l->kw, P = (int64_t)a->n * l->out_h * l->out_w;
    double *col = calloc((size_t)(D * P), sizeof *col), *nr = calloc((size_t)D, sizeof *nr);
    for (int c = 0; c < a->c; c++)
        for (int i = 0; i < l->kh; i++)
            for (int j = 0; j < l->kw; j++)
                for (int n = 0; n < a->n; n++)
                    for (int y = 0; y < l->out_h; y++)
                        for (int x = 0; x < l->out_w; x++)
                            col[((int64_t)(c * l->kh + i) * l->kw + j) * P +
                                ((int64_t)n * l->out_h + y) * l->out_w + x] =
                                at(a, n, c, y * l->stride_h - l->pad_h + i, x * l->stride_w - l->pad_w + j);
    for (int64_t r = 0; r < D; r++) {
        double s = 0;
        for (int64_t k = 0; k < P; k++)
            s += col[r * P + k] * col[r * P + k];
        nr[r] = sqrt(s);
    }
    free(col);
    return nr;
}

static void expect_close(const float *got, const double *want, int64_t n, const char *what)
{
    for (int64_t k = 0; k < n; k++)
        cr_assert(fabs(got[k] - want[k]) <= 1e-4 * (1 + fabs(want[k])),
                  "%s norm %lld: %g, brute force %g", what, (long long)k, (double)got[k], want[k]);
}

Test(wanda, norms_match_brute_force_im2col)
{
    nm_model *m = small_net(11);
    nm_tensor *x = random_input(NB, 2, 9, 7, 5);
    nm_calib *c = nm_calib_compute(m, x, 2);   /* two passes: 2 + 1 samples */
    cr_assert(c, "%s", nm_errmsg());
    cr_assert_eq(c->samples, NB);
    act a0 = {NB, 2, 9, 7, malloc(sizeof(double) * (size_t)x->numel)};
    for (int64_t k = 0; k < x->numel; k++)
        a0.v[k] = nm_f32(x)[k];
    const nm_layer *c1 = &m->layers[0], *dw = &m->layers[2], *c2 = &m->layers[3], *fc = &m->layers[6];
    act a1 = naive_conv(c1, &a0);
    for (int64_t k = 0; k < (int64_t)a1.n * a1.c * a1.h * a1.w; k++)
        a1.v[k] = a1.v[k] > 0 ? a1.v[k] : 0;        /* relu */
    act a2 = naive_conv(dw, &a1);
    act a3 = naive_conv(c2, &a2);
    double *n1 = im2col_norms(c1, &a0), *n2 = im2col_norms(dw, &a1), *n3 = im2col_norms(c2, &a2);
    cr_assert_eq(nm_calib_len(c1), 2 * 9);
    cr_assert_eq(nm_calib_len(dw), 4 * 9);
    cr_assert_eq(nm_calib_len(c2), 4 * 4);
    cr_assert_eq(nm_calib_len(fc), 6);
    expect_close(c->norm[0], n1, 18, "c1");
    expect_close(c->norm[2], n2, 36, "dw");
    expect_close(c->norm[3], n3, 16, "c2");
    /* fc reads the global average of c2's output per sample. */
    double nf[6] = {0};
    for (int ch = 0; ch < 6; ch++) {
        for (int n = 0; n < NB; n++) {
            double s = 0;
            for (int y = 0; y < a3.h; y++)
                for (int xx = 0; xx < a3.w; xx++)
                    s += at(&a3, n, ch, y, xx);
            s /= a3.h * a3.w;
            nf[ch] += s * s;
        }
        nf[ch] = sqrt(nf[ch]);
    }
    expect_close(c->norm[6], nf, 6, "fc");
    cr_assert_null(c->norm[1]);
    cr_assert_null(c->norm[4]);
    free(n1), free(n2), free(n3), free(a0.v), free(a1.v), free(a2.v), free(a3.v);
    nm_calib_free(c);
    nm_tensor_release(x);
    nm_model_free(m);
}

/* w * norm of the input position each weight reads, by the test's own
 * indexing of the PyTorch layout. */
static nm_tensor *scaled_weight(const nm_layer *l, const float *norm)
{
    nm_tensor *t = nm_tensor_clone(l->weight);
    int64_t O = l->weight->shape[0], Cg = l->weight->shape[1];
    int64_t K = l->weight->ndim == 4 ? l->weight->shape[2] * l->weight->shape[3] : 1;
    int G = l->kind == NM_LAYER_DWCONV ? l->in_c : l->kind == NM_LAYER_LINEAR ? 1 : l->groups;
    for (int64_t o = 0; o < O; o++)
        for (int64_t c = 0; c < Cg; c++)
            for (int64_t k = 0; k < K; k++)
                nm_f32(t)[(o * Cg + c) * K + k] *= norm[((o / (O / G)) * Cg + c) * K + k];
    return t;
}

static nm_calib *calib_of(nm_model *m)
{
    nm_tensor *x = random_input(NB, m->in_c, m->in_h, m->in_w, 99);
    nm_calib *c = nm_calib_compute(m, x, 0);
    cr_assert(c, "%s", nm_errmsg());
    nm_tensor_release(x);
    return c;
}

static int same_weights(const nm_model *a, const nm_model *b)
{
    for (int i = 0; i < a->n_layers; i++)
        if (a->layers[i].weight &&
            memcmp(nm_f32(a->layers[i].weight), nm_f32(b->layers[i].weight),
                   sizeof(float) * (size_t)a->layers[i].weight->numel))
            return 0;
    return 1;
}

Test(wanda, nm_is_nm_on_hand_scaled_weights)
{
    static const int nms[][2] = {{2, 4}, {4, 9}, {3, 9}, {1, 3}};
    for (size_t q = 0; q < sizeof nms / sizeof nms[0]; q++) {
        nm_model *m = small_net(3 + q), *ref = nm_model_clone(m), *mag = nm_model_clone(m);
        nm_calib *c = calib_of(m);
        nm_nm_opts o;
        nm_nm_opts_init(&o, nms[q][0], nms[q][1]);
        o.scope.include_first = o.scope.include_last = 1;
        cr_assert_eq(nm_prune_nm_model(mag, &o, NULL), NM_OK);
        o.calib = c;
        cr_assert_eq(nm_prune_nm_model(m, &o, NULL), NM_OK, "%s", nm_errmsg());
        cr_assert(same_weights(m, ref), "weights restored bit for bit");
        int differs = 0;
        for (int i = 0; i < m->n_layers; i++) {
            nm_layer *l = &m->layers[i];
            if (!nm_calib_len(l))
                continue;
            nm_tensor *s = scaled_weight(&ref->layers[i], c->norm[i]);
            nm_tensor *k = nm_tensor_new(NM_U8, s->ndim, s->shape);
            nm_tensor_fill(k, 1);
            cr_assert_eq(nm_prune_nm_tensor(s, k, nms[q][0], nms[q][1], nm_group_axis_default(l)), NM_OK);
            cr_assert(l->mask);
            cr_assert_eq(memcmp(nm_u8(k), nm_u8(l->mask), (size_t)k->numel), 0,
                         "%d:%d layer %s: mask differs from N:M of |w| x norm", nms[q][0], nms[q][1],
                         l->name);
            differs |= memcmp(nm_u8(l->mask), nm_u8(mag->layers[i].mask), (size_t)k->numel) != 0;
            nm_tensor_release(s);
            nm_tensor_release(k);
        }
        cr_assert(differs, "wanda chose the same masks as magnitude everywhere (%d:%d)", nms[q][0], nms[q][1]);
        nm_calib_free(c);
        nm_model_free(m), nm_model_free(ref), nm_model_free(mag);
    }
}

Test(wanda, global_and_magnitude_mask_the_smallest_scores)
{
    nm_model *m = small_net(21), *ref = nm_model_clone(m), *pl = nm_model_clone(m);
    nm_calib *c = calib_of(m);
    nm_global_opts o;
    nm_global_opts_init(&o, 0.6);
    o.scope.include_first = o.scope.include_last = 1;
    o.calib = c;
    cr_assert_eq(nm_prune_global(m, &o), NM_OK, "%s", nm_errmsg());
    cr_assert(same_weights(m, ref));
    /* every masked score <= every kept score, and the count is exact */
    double max_masked = -1, min_kept = INFINITY;
    int64_t masked = 0, total = 0;
    for (int i = 0; i < m->n_layers; i++) {
        if (!nm_calib_len(&m->layers[i]))
            continue;
        nm_tensor *s = scaled_weight(&ref->layers[i], c->norm[i]);
        for (int64_t k = 0; k < s->numel; k++) {
            double v = fabs(nm_f32(s)[k]);
            if (nm_u8(m->layers[i].mask)[k])
                min_kept = fmin(min_kept, v);
            else
                max_masked = fmax(max_masked, v), masked++;
        }
        total += s->numel;
        nm_tensor_release(s);
    }
    cr_assert_eq(masked, llround(0.6 * (double)total));
    cr_assert_leq(max_masked, min_kept);
    /* per layer: each layer's own smallest scores */
    cr_assert_eq(nm_prune_magnitude_model(pl, 0.5, &o.scope, c), NM_OK, "%s", nm_errmsg());
    cr_assert(same_weights(pl, ref));
    for (int i = 0; i < pl->n_layers; i++) {
        if (!nm_calib_len(&pl->layers[i]))
            continue;
        nm_tensor *s = scaled_weight(&ref->layers[i], c->norm[i]);
        double mm = -1, mk = INFINITY;
        int64_t z = 0;
        for (int64_t k = 0; k < s->numel; k++) {
            double v = fabs(nm_f32(s)[k]);
            if (nm_u8(pl->layers[i].mask)[k])
                mk = fmin(mk, v);
            else
                mm = fmax(mm, v), z++;
        }
        cr_assert_eq(z, llround(0.5 * (double)s->numel), "layer %s", pl->layers[i].name);
        cr_assert_leq(mm, mk, "layer %s", pl->layers[i].name);
        nm_tensor_release(s);
    }
    nm_calib_free(c);
    nm_model_free(m), nm_model_free(ref), nm_model_free(pl);
}

/* The row of c1 with the smallest mean of |w| (x norm when norm). */
static int argmin_row(const nm_layer *l, const float *norm)
{
    nm_tensor *s = norm ? scaled_weight(l, norm) : nm_tensor_clone(l->weight);
    int64_t O = s->shape[0], D = s->numel / O;
    int best = -1;
    double bv = INFINITY;
    for (int64_t o = 0; o < O; o++) {
        double t = 0;
        for (int64_t k = 0; k < D; k++)
            t += fabs(nm_f32(s)[o * D + k]);
        if (t / D < bv)
            bv = t / D, best = (int)o;
    }
    nm_tensor_release(s);
    return best;
}

static int removed_row(const nm_layer *l)
{
    int r = -1;
    for (int o = 0; o < l->out_c; o++)
        if (l->filters && !nm_u8(l->filters)[o]) {
            cr_assert_eq(r, -1, "one filter removed");
            r = o;
        }
    return r;
}

Test(wanda, filters_remove_the_lowest_wanda_row)
{
    /* c1 alone is eligible (dw follows its channels); ratio 0.25 of 4 rows */
    int found = 0;
    for (uint64_t seed = 1; seed < 40 && !found; seed++) {
        nm_model *m = small_net_g(seed, 1), *mag = nm_model_clone(m), *ref = nm_model_clone(m);
        nm_calib *c = calib_of(m);
        int want = argmin_row(&ref->layers[0], c->norm[0]), want_mag = argmin_row(&ref->layers[0], NULL);
        nm_layer_override ov[] = {{.layer = "c1", .force = 1, .axis = NM_GROUP_AUTO},
                                  {.layer = "c2", .skip = 1, .axis = NM_GROUP_AUTO}};
        nm_filter_opts o;
        nm_filter_opts_init(&o, 0.25);
        o.global = 0;
        o.scope.overrides = ov;
        o.scope.n_overrides = 2;
        cr_assert_eq(nm_prune_filters(mag, &o), NM_OK, "%s", nm_errmsg());
        o.calib = c;
        cr_assert_eq(nm_prune_filters(m, &o), NM_OK, "%s", nm_errmsg());
        cr_assert(same_weights(m, ref));
        cr_assert_eq(removed_row(&m->layers[0]), want, "seed %llu", (unsigned long long)seed);
        cr_assert_eq(removed_row(&mag->layers[0]), want_mag);
        found = want != want_mag;   /* a seed where the scores disagree shows the difference */
        nm_calib_free(c);
        nm_model_free(m), nm_model_free(mag), nm_model_free(ref);
    }
    cr_assert(found, "no seed where wanda and L1 remove different filters");
}

typedef struct {
    const nm_model *ref;
    int calls, saw_real;
} ft_state;

static int check_finetune(void *ud, nm_model *m, int round)
{
    (void)round;
    ft_state *s = ud;
    s->calls++;
    s->saw_real += same_weights(m, s->ref);
    return 0;
}

Test(wanda, jointnf_one_round_is_wanda_nm_and_callbacks_see_real_weights)
{
    nm_model *m = small_net(8), *nmm = nm_model_clone(m), *ref = nm_model_clone(m);
    nm_calib *c = calib_of(m);
    nm_jointnf_opts j;
    nm_jointnf_opts_init(&j, 2, 4, 0.0, 1);
    j.scope.include_first = j.scope.include_last = 1;
    j.calib = c;
    cr_assert_eq(nm_prune_jointnf(m, &j), NM_OK, "%s", nm_errmsg());
    nm_nm_opts o;
    nm_nm_opts_init(&o, 2, 4);
    o.scope = j.scope;
    o.calib = c;
    cr_assert_eq(nm_prune_nm_model(nmm, &o, NULL), NM_OK);
    cr_assert(same_weights(m, ref));
    for (int i = 0; i < m->n_layers; i++)
        if (nm_calib_len(&m->layers[i]))
            cr_assert_eq(memcmp(nm_u8(m->layers[i].mask), nm_u8(nmm->layers[i].mask),
                                (size_t)m->layers[i].mask->numel), 0, "layer %s", m->layers[i].name);
    /* three rounds with filters: fine-tuning sees the unscaled weights */
    nm_model *m3 = nm_model_clone(ref);
    ft_state st = {ref, 0, 0};
    nm_jointnf_opts_init(&j, 2, 4, 0.25, 3);
    j.calib = c;
    j.finetune = check_finetune;
    j.finetune_ud = &st;
    cr_assert_eq(nm_prune_jointnf(m3, &j), NM_OK, "%s", nm_errmsg());
    cr_assert_eq(st.calls, 3);
    cr_assert_eq(st.saw_real, 3);
    cr_assert(same_weights(m3, ref));
    nm_calib_free(c);
    nm_model_free(m), nm_model_free(nmm), nm_model_free(ref), nm_model_free(m3);
}

Test(wanda, bad_calibration_names_it_and_leaves_the_model)
{
    nm_model *m = small_net(2);
    nm_tensor *x = random_input(2, 1, 9, 7, 1);
    cr_assert_null(nm_calib_compute(m, x, 0));
    cr_assert(strstr(nm_errmsg(), "shape [2, 1, 9, 7]") && strstr(nm_errmsg(), "[N, 2, 9, 7]"), "%s",
              nm_errmsg());
    nm_tensor_release(x);
    nm_calib *c = calib_of(m);
    nm_nm_opts o;
    nm_nm_opts_init(&o, 2, 4);
    o.scope.include_first = 1;
    o.calib = c;
    float *saved = c->norm[3];
    c->norm[3] = NULL;
    cr_assert_eq(nm_prune_nm_model(m, &o, NULL), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "'c2'"), "%s", nm_errmsg());
    c->norm[3] = saved;
    c->norm[0][4] = NAN;
    cr_assert_eq(nm_prune_nm_model(m, &o, NULL), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "'c1'"), "%s", nm_errmsg());
    c->n_layers--;
    nm_global_opts g;
    nm_global_opts_init(&g, 0.5);
    g.calib = c;
    cr_assert_eq(nm_prune_global(m, &g), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "calib"), "%s", nm_errmsg());
    c->n_layers++;
    for (int i = 0; i < m->n_layers; i++)
        cr_assert_null(m->layers[i].mask, "layer %s got a mask", m->layers[i].name);
    nm_filter_opts f;
    nm_filter_opts_init(&f, 0.3);
    f.criterion = NM_FILTER_BN;
    f.calib = c;
    cr_assert_eq(nm_prune_filters(m, &f), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "BN"), "%s", nm_errmsg());
    nm_calib_free(c);
    nm_model_free(m);
}
