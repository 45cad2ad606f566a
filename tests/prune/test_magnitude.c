/* Unstructured magnitude: exact selection against a sorted reference,
 * per layer, globally across layers (ties to the earlier layer), and with
 * per-layer floors against a greedy reference. */
#include "helpers.h"
#include "prune_int.h"

/* The reference: sort every survivor by (|w|, segment, index); the first k
 * are the ones to go. caps (may be NULL) limit how many one segment loses. */
static void reference(float **w, uint8_t **mk, int64_t *n, int ns, int64_t k, const int64_t *caps)
{
    int64_t tot = 0;
    for (int s = 0; s < ns; s++)
        tot += n[s];
    ref_weight *e = malloc((size_t)tot * sizeof *e);
    int64_t ne = 0;
    for (int s = 0; s < ns; s++)
        for (int64_t i = 0; i < n[s]; i++)
            if (mk[s][i])
                e[ne++] = (ref_weight){fabsf(w[s][i]), s, i};
    qsort(e, (size_t)ne, sizeof *e, ref_weight_cmp);
    int64_t *lost = calloc((size_t)ns, sizeof *lost);
    for (int64_t j = 0; j < ne && k > 0; j++) {
        if (caps && lost[e[j].layer] >= caps[e[j].layer])
            continue;
        mk[e[j].layer][e[j].i] = 0;
        lost[e[j].layer]++;
        k--;
    }
    free(lost);
    free(e);
}

Test(select, exact_k_over_chunks_with_ties)
{
    nm_rng r;
    nm_rng_seed(&r, 5);
    for (int trial = 0; trial < 12; trial++) {
        /* odd halves force the three-pass path (no boundary list) */
        nm_select_fast_max = trial >= 6 ? -1 : (int64_t)1 << 22;
        int ns = 1 + trial % 3;
        float *w[3];
        uint8_t *mk[3], *ref[3];
        int64_t n[3];
        nm_select_seg segs[3];
        int64_t elig = 0;
        for (int s = 0; s < ns; s++) {
            n[s] = 1000 + (int64_t)(nm_rng_next(&r) % 150000);
            w[s] = malloc((size_t)n[s] * sizeof(float));
            mk[s] = malloc((size_t)n[s]);
            ref[s] = malloc((size_t)n[s]);
            for (int64_t i = 0; i < n[s]; i++) {
                w[s][i] = trial & 1 ? (float)((int)(nm_rng_uniform(&r) * 7) - 3) : (float)nm_rng_normal(&r);
                mk[s][i] = ref[s][i] = nm_rng_uniform(&r) > 0.1;
                elig += mk[s][i];
            }
            segs[s] = (nm_select_seg){w[s], mk[s], mk[s], n[s]};
        }
        int64_t k = (int64_t)(nm_rng_uniform(&r) * (double)elig);
        cr_assert_eq(nm_select_smallest(segs, ns, k), NM_OK, "%s", nm_errmsg());
        reference(w, ref, n, ns, k, NULL);
        for (int s = 0; s < ns; s++) {
            cr_assert_eq(memcmp(mk[s], ref[s], (size_t)n[s]), 0, "trial %d seg %d differs", trial, s);
            free(w[s]);
            free(mk[s]);
            free(ref[s]);
        }
    }
    nm_select_fast_max = (int64_t)1 << 22;
}

/* The one-pass selection (mask = eligibility, forced on small arrays):
 * exact k and keep-all-but, many ties, against the sorted reference; and
 * its ways back (estimate moved far below or above the cut, band list
 * capped) give the same masks. */
static void band_fallback_trials(void)
{
    nm_rng r;
    nm_rng_seed(&r, 31);
    nm_select_sample_min = 0;
    for (int trial = 0; trial < 16; trial++) {
        int variant = trial % 4; /* 0 band holds the cut, 1 over, 2 under, 3 list capped */
        nm_select_sample_bias = variant == 1 ? 0.6 : variant == 2 ? -0.6 : 0;
        nm_select_sample_cap = variant == 3 ? 16 : 0;
        int ns = 1 + trial % 3, keep_mode = trial / 4 % 2;
        /* trials 0-7 normal values, 8-15 nine tied levels */
        float *w[3];
        uint8_t *mk[3], *ref[3];
        int64_t n[3];
        nm_select_seg segs[3];
        int64_t elig = 0;
        for (int s = 0; s < ns; s++) {
            n[s] = 25000 + (int64_t)(nm_rng_next(&r) % 60000);
            w[s] = malloc((size_t)n[s] * sizeof(float));
            mk[s] = malloc((size_t)n[s]);
            ref[s] = malloc((size_t)n[s]);
            for (int64_t i = 0; i < n[s]; i++) {
                w[s][i] = trial >= 8 ? (float)((int)(nm_rng_uniform(&r) * 9) - 4)
                                     : (float)nm_rng_normal(&r) * (float)(s + 1);
                mk[s][i] = ref[s][i] = nm_rng_uniform(&r) > 0.1;
                elig += mk[s][i];
            }
            segs[s] = (nm_select_seg){w[s], mk[s], mk[s], n[s]};
        }
        int64_t k = (int64_t)((0.25 + 0.4 * nm_rng_uniform(&r)) * (double)elig);
        if (keep_mode)
            cr_assert_eq(nm_select_keep(segs, ns, elig - k), NM_OK, "%s", nm_errmsg());
        else
            cr_assert_eq(nm_select_smallest(segs, ns, k), NM_OK, "%s", nm_errmsg());
        cr_assert_eq(nm_select_sample_last, variant == 0 ? 1 : 2, "trial %d: path %d", trial,
                     nm_select_sample_last);
        reference(w, ref, n, ns, k, NULL);
        for (int s = 0; s < ns; s++) {
            cr_assert_eq(memcmp(mk[s], ref[s], (size_t)n[s]), 0, "trial %d (variant %d) seg %d differs",
                         trial, variant, s);
            free(w[s]);
            free(mk[s]);
            free(ref[s]);
        }
    }
    nm_select_sample_min = (int64_t)1 << 20;
    nm_select_sample_bias = 0;
    nm_select_sample_cap = 0;
}

/* The band scan in both versions: AVX2 (where the CPU has it) and SSE2. */
Test(select, one_pass_band_and_its_fallbacks)
{
    for (int avx = 1; avx >= 0; avx--) {
        nm_select_avx2 = avx;
        band_fallback_trials();
    }
    nm_select_avx2 = 1;
}

/* The one-pass selection with eligibility in its own buffer (JointNF's
 * candidates): only eligible entries go, the others keep their mask, and
 * the ways back restore exactly what was taken. */
static void band_separate_trials(void)
{
    nm_rng r;
    nm_rng_seed(&r, 57);
    nm_select_sample_min = 0;
    for (int trial = 0; trial < 12; trial++) {
        int variant = trial % 4;
        nm_select_sample_bias = variant == 1 ? 0.6 : variant == 2 ? -0.6 : 0;
        nm_select_sample_cap = variant == 3 ? 16 : 0;
        int ns = 1 + trial % 2;
        float *w[2];
        uint8_t *mk[2], *mk0[2], *el[2], *ref[2];
        int64_t n[2];
        nm_select_seg segs[2];
        int64_t elig = 0;
        for (int s = 0; s < ns; s++) {
            n[s] = 40000 + (int64_t)(nm_rng_next(&r) % 40000);
            w[s] = malloc((size_t)n[s] * sizeof(float));
            mk[s] = malloc((size_t)n[s]);
            mk0[s] = malloc((size_t)n[s]);
            el[s] = malloc((size_t)n[s]);
            ref[s] = malloc((size_t)n[s]);
            for (int64_t i = 0; i < n[s]; i++) {
                w[s][i] = trial / 4 % 2 ? (float)((int)(nm_rng_uniform(&r) * 9) - 4)
                                        : (float)nm_rng_normal(&r);
                mk[s][i] = mk0[s][i] = nm_rng_uniform(&r) > 0.1;
                el[s][i] = ref[s][i] = mk[s][i] && nm_rng_uniform(&r) > 0.4;
                elig += el[s][i];
            }
            segs[s] = (nm_select_seg){w[s], el[s], mk[s], n[s]};
        }
        int64_t k = (int64_t)((0.25 + 0.4 * nm_rng_uniform(&r)) * (double)elig);
        cr_assert_eq(nm_select_smallest(segs, ns, k), NM_OK, "%s", nm_errmsg());
        cr_assert_eq(nm_select_sample_last, variant == 0 ? 1 : 2, "trial %d: path %d", trial,
                     nm_select_sample_last);
        reference(w, ref, n, ns, k, NULL); /* ref: eligibility after the selection */
        for (int s = 0; s < ns; s++) {
            for (int64_t i = 0; i < n[s]; i++) {
                int taken = el[s][i] && !ref[s][i];
                cr_assert_eq(mk[s][i], (uint8_t)(mk0[s][i] && !taken), "trial %d seg %d entry %lld",
                             trial, s, (long long)i);
            }
            free(w[s]);
            free(mk[s]);
            free(mk0[s]);
            free(el[s]);
            free(ref[s]);
        }
    }
    nm_select_sample_min = (int64_t)1 << 20;
    nm_select_sample_bias = 0;
    nm_select_sample_cap = 0;
}

/* The band scan in both versions: AVX2 (where the CPU has it) and SSE2. */
Test(select, one_pass_separate_eligibility)
{
    for (int avx = 1; avx >= 0; avx--) {
        nm_select_avx2 = avx;
        band_separate_trials();
    }
    nm_select_avx2 = 1;
}

/* Keeping more than are eligible changes nothing. */
Test(select, keep_more_than_eligible)
{
    float w[5] = {1, -2, 3, 0.5f, 4};
    uint8_t mk[5] = {1, 0, 1, 1, 0};
    nm_select_seg seg = {w, mk, mk, 5};
    cr_assert_eq(nm_select_keep(&seg, 1, 3), NM_OK);
    cr_assert_eq(mk[0] + mk[2] + mk[3], 3);
    cr_assert_eq(nm_select_keep(&seg, 1, 1), NM_OK);
    cr_assert_eq(mk[0] + mk[2] + mk[3], 1);
    cr_assert_eq(mk[2], 1, "the largest eligible (3) stays");
    cr_assert_eq(nm_select_keep(&seg, 1, -1), NM_ERR);
}

Test(select, too_many_is_an_error)
{
    float w[4] = {1, 2, 3, 4};
    uint8_t m[4] = {1, 0, 1, 0};
    nm_select_seg s = {w, m, m, 4};
    cr_assert_eq(nm_select_smallest(&s, 1, 3), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "only 2"), "%s", nm_errmsg());
    cr_assert_eq(nm_select_smallest(&s, 1, 2), NM_OK);
    cr_assert(m[0] == 0 && m[2] == 0);
}

Test(magnitude, layer_exact_count_and_set)
{
    nm_model *m = nm_model_new("one", 16, 4, 4);
    int c = nm_add_conv(m, "c", NM_INPUT, 32, 3, 3, 1, 1, 1, 0);
    nm_model_init_weights(m, 11);
    nm_layer *l = &m->layers[c];
    nm_rng r;
    nm_rng_seed(&r, 1);
    fill_random(l->weight, &r, 1); /* heavy ties */
    nm_layer_ensure_mask(l);
    uint8_t *ref = malloc((size_t)l->weight->numel);
    memset(ref, 1, (size_t)l->weight->numel);
    const double sp[] = {0.1, 0.37, 0.37, 0.9, 0.5};
    for (int t = 0; t < 5; t++) {
        int64_t before = mask_zeros(l);
        cr_assert_eq(nm_prune_magnitude_layer(l, sp[t]), NM_OK, "%s", nm_errmsg());
        int64_t want = llround(sp[t] * (double)l->weight->numel);
        if (want < before)
            want = before; /* never resurrects */
        cr_assert_eq(mask_zeros(l), want, "step %d", t);
        float *w = nm_f32(l->weight);
        int64_t n = l->weight->numel;
        reference(&w, &ref, &n, 1, want - before, NULL);
        cr_assert_eq(memcmp(ref, l->mask->data, (size_t)n), 0, "step %d set differs", t);
    }
    cr_assert_eq(nm_prune_magnitude_layer(l, 1.5), NM_ERR);
    free(ref);
    nm_model_free(m);
}

/* Prunable layers in order, their weights and masks. */
static int gather(nm_model *m, float **w, uint8_t **mk, int64_t *n, int *idx, int skip_ends)
{
    int ns = 0, first = -1, last = -1;
    for (int i = 0; i < m->n_layers; i++)
        if (nm_layer_prunable(&m->layers[i])) {
            if (first < 0)
                first = i;
            last = i;
        }
    for (int i = 0; i < m->n_layers; i++) {
        nm_layer *l = &m->layers[i];
        if (!nm_layer_prunable(l) || (skip_ends && (i == first || i == last)))
            continue;
        nm_layer_ensure_mask(l);
        w[ns] = nm_f32(l->weight);
        mk[ns] = nm_u8(l->mask);
        n[ns] = l->weight->numel;
        idx[ns++] = i;
    }
    return ns;
}

Test(global, exact_k_smallest_across_layers)
{
    for (int variant = 0; variant < 4; variant++) {
        int ties = variant & 1;
        nm_select_fast_max = variant >= 2 ? -1 : (int64_t)1 << 22;
        nm_model *m = small_resnet(21);
        nm_rng r;
        nm_rng_seed(&r, 77 + variant);
        for (int i = 0; i < m->n_layers; i++)
            if (ties && nm_layer_prunable(&m->layers[i]))
                fill_random(m->layers[i].weight, &r, 1);
        float *w[16];
        uint8_t *mk[16], *ref[16];
        int64_t n[16], total = 0;
        int idx[16];
        int ns = gather(m, w, mk, n, idx, 1);
        for (int s = 0; s < ns; s++) {
            total += n[s];
            ref[s] = malloc((size_t)n[s]);
            memset(ref[s], 1, (size_t)n[s]);
        }
        nm_global_opts o;
        nm_global_opts_init(&o, 0.8);
        cr_assert_eq(nm_prune_global(m, &o), NM_OK, "%s", nm_errmsg());
        int64_t k = llround(0.8 * (double)total), zeros = 0;
        reference(w, ref, n, ns, k, NULL);
        for (int s = 0; s < ns; s++) {
            zeros += mask_zeros(&m->layers[idx[s]]);
            cr_assert_eq(memcmp(ref[s], mk[s], (size_t)n[s]), 0, "layer %s differs (ties %d)",
                         m->layers[idx[s]].name, ties);
            free(ref[s]);
        }
        cr_assert_eq(zeros, k, "global removes exactly k");
        cr_assert_null(m->layers[0].mask, "first conv untouched");
        cr_assert_null(m->layers[nm_model_find(m, "fc")].mask, "classifier untouched");
        nm_model_free(m);
    }
}

Test(global, per_layer_floor_matches_greedy_reference)
{
    nm_model *m = small_resnet(8);
    /* make b2c2 tiny so global magnitude would empty it */
    nm_layer *tiny = &m->layers[nm_model_find(m, "b2c2")];
    for (int64_t i = 0; i < tiny->weight->numel; i++)
        nm_f32(tiny->weight)[i] *= 0.001f;
    float *w[16];
    uint8_t *mk[16], *ref[16];
    int64_t n[16], caps[16], total = 0;
    int idx[16];
    int ns = gather(m, w, mk, n, idx, 1);
    double floor_d = 0.3;
    for (int s = 0; s < ns; s++) {
        total += n[s];
        caps[s] = n[s] - (int64_t)ceil(floor_d * (double)n[s] - 1e-9);
        ref[s] = malloc((size_t)n[s]);
        memset(ref[s], 1, (size_t)n[s]);
    }
    nm_global_opts o;
    nm_global_opts_init(&o, 0.6);
    o.min_density = floor_d;
    cr_assert_eq(nm_prune_global(m, &o), NM_OK, "%s", nm_errmsg());
    reference(w, ref, n, ns, llround(0.6 * (double)total), caps);
    int64_t zeros = 0;
    for (int s = 0; s < ns; s++) {
        nm_layer_stats st;
        nm_layer_stats_get(m, idx[s], &st);
        cr_assert(mask_zeros(&m->layers[idx[s]]) <= caps[s], "%s over its cap", m->layers[idx[s]].name);
        cr_assert_eq(memcmp(ref[s], mk[s], (size_t)n[s]), 0, "layer %s differs", m->layers[idx[s]].name);
        zeros += mask_zeros(&m->layers[idx[s]]);
        free(ref[s]);
    }
    cr_assert_eq(zeros, llround(0.6 * (double)total));
    cr_assert_eq(mask_zeros(tiny), tiny->weight->numel - (int64_t)ceil(0.3 * (double)tiny->weight->numel));
    /* max_sparsity 0.5 with 0.9 asked is impossible */
    nm_global_opts_init(&o, 0.9);
    o.max_sparsity = 0.5;
    cr_assert_eq(nm_prune_global(m, &o), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "not reachable"), "%s", nm_errmsg());
    nm_model_free(m);
}

/* nm_row_abs_sum against its documented order of additions (four float
 * lanes, moved into a double every 256 entries, then the tail), written
 * here in scalar: values of very different scales, so another order would
 * give other bits. */
Test(magnitude, row_abs_sum_exact_order)
{
    nm_rng r;
    nm_rng_seed(&r, 99);
    for (int trial = 0; trial < 200; trial++) {
        int64_t n = (int64_t)(nm_rng_next(&r) % 1500);
        float *w = malloc((size_t)(n ? n : 1) * sizeof *w);
        uint8_t *mk = malloc((size_t)(n ? n : 1));
        for (int64_t i = 0; i < n; i++) {
            w[i] = (float)nm_rng_normal(&r) * ldexpf(1.0f, (int)(nm_rng_next(&r) % 40) - 20);
            mk[i] = (uint8_t)(nm_rng_uniform(&r) < 0.3 ? 0 : 1 + nm_rng_next(&r) % 3);
        }
        const uint8_t *m = trial % 4 == 0 ? NULL : mk;
        double ref = 0;
        int64_t j = 0;
        while (j + 4 <= n) {
            float a[4] = {0, 0, 0, 0};
            int64_t end = j + 256 < n ? j + 256 : n;
            for (; j + 4 <= end; j += 4)
                for (int q = 0; q < 4; q++)
                    a[q] += !m || m[j + q] ? fabsf(w[j + q]) : 0.0f;
            ref += (double)a[0] + (double)a[1] + (double)a[2] + (double)a[3];
        }
        for (; j < n; j++)
            ref += !m || m[j] ? fabs(w[j]) : 0.0;
        double got = nm_row_abs_sum(w, m, n);
        cr_assert(memcmp(&got, &ref, sizeof got) == 0, "trial %d (n %lld): %.17g, reference %.17g",
                  trial, (long long)n, got, ref);
        free(w);
        free(mk);
    }
}
