/* bench_prune - pruning throughput on the zoo's ResNet-50 (25.5M prunable
 * weights) and NMReLU on a 64x256x56x56 tensor. Each
 * figure is printed next to a plain streaming pass over the same bytes
 * measured alternately in the same run, and their ratio. Times are the best
 * of `reps` runs (the machine is shared). Usage: bench_prune [reps [only]]
 * (only: run just the lines whose name contains that text, for profiling) */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model.h"
#include "prune.h"
#include "zoo.h"

/* CPU time of all threads: steadier than wall time on a shared machine
 * (run with OMP_WAIT_POLICY=passive so idle threads do not spin). */
static double cpu(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

typedef struct {
    double wall, cpu;
} stamp;

static stamp stamp_now(void)
{
    return (stamp){nm_now(), cpu()};
}

/* Keeps the smaller of each field of `best` and (now - start). */
static void stamp_min(stamp *best, stamp start)
{
    stamp e = stamp_now();
    if (e.wall - start.wall < best->wall)
        best->wall = e.wall - start.wall;
    if (e.cpu - start.cpu < best->cpu)
        best->cpu = e.cpu - start.cpu;
}

static void reset_masks(nm_model *m)
{
    for (int i = 0; i < m->n_layers; i++) {
        nm_layer *l = &m->layers[i];
        if (!nm_layer_prunable(l))
            continue;
        nm_layer_ensure_mask(l);
        memset(l->mask->data, 1, (size_t)l->mask->numel);
        if (l->filters)
            memset(l->filters->data, 1, (size_t)l->filters->numel);
        if (l->in_chans)
            memset(l->in_chans->data, 1, (size_t)l->in_chans->numel);
    }
}

/* The floor: read every weight and mask byte, write the mask. */
static void stream_weights(nm_model *m)
{
    for (int i = 0; i < m->n_layers; i++) {
        nm_layer *l = &m->layers[i];
        if (!nm_layer_prunable(l))
            continue;
        const float *w = nm_f32(l->weight);
        uint8_t *k = nm_u8(l->mask);
#pragma omp parallel for schedule(static)
        for (int64_t j = 0; j < l->weight->numel; j++)
            k[j] &= w[j] != 0.0f;
    }
}

typedef int (*bench_fn)(nm_model *m, void *ud);

/* Best of reps for fn and for the streaming floor, measured alternately so
 * both see the same machine load. */
static void best(nm_model *m, bench_fn fn, void *ud, int reps, stamp *t_fn, stamp *t_floor)
{
    t_fn->wall = t_fn->cpu = t_floor->wall = t_floor->cpu = INFINITY;
    for (int r = 0; r < reps; r++) {
        reset_masks(m);
        stamp s = stamp_now();
        stream_weights(m);
        stamp_min(t_floor, s);
        reset_masks(m);
        s = stamp_now();
        if (fn(m, ud)) {
            fprintf(stderr, "failed: %s\n", nm_errmsg());
            exit(1);
        }
        stamp_min(t_fn, s);
    }
}

typedef struct {
    int n, mm;
    nm_group_axis axis;
} nm_args;

static int nm_fn(nm_model *m, void *ud)
{
    nm_args *a = ud;
    nm_nm_opts o;
    nm_nm_opts_init(&o, a->n, a->mm);
    o.axis = a->axis;
    o.scope.include_first = o.scope.include_last = 1;
    return nm_prune_nm_model(m, &o, NULL);
}

static int global_fn(nm_model *m, void *ud)
{
    (void)ud;
    nm_global_opts o;
    nm_global_opts_init(&o, 0.8);
    o.scope.include_first = o.scope.include_last = 1;
    return nm_prune_global(m, &o);
}

static int nffs_fn(nm_model *m, void *ud)
{
    (void)ud;
    for (int i = 0; i < m->n_layers; i++)
        if (nm_layer_prunable(&m->layers[i]) &&
            nm_prune_nffs(m, i, 4, 9, NM_GROUP_AUTO, nm_nffs_u(&m->layers[i], 0.2), 0))
            return NM_ERR;
    return NM_OK;
}

/* Filter pruning on channel groups: 20 % of the candidate rows, global L1
 * ranking (builds the groups, scores, removes and propagates). */
static int filters_fn(nm_model *m, void *ud)
{
    (void)ud;
    nm_filter_opts o;
    nm_filter_opts_init(&o, 0.2);
    return nm_prune_filters(m, &o);
}

static int jointnf_fn(nm_model *m, void *ud)
{
    (void)ud;
    nm_jointnf_opts o;
    nm_jointnf_opts_init(&o, 4, 9, 0.2, 1);
    return nm_prune_jointnf(m, &o);
}

/* All three rounds of JointNF-4-4-0.2 (no fine-tuning): rounds 1 and 2
 * select a share of the pool, round 3 takes the rest (the one-round line's
 * fused pass). */
static int jointnf3_fn(nm_model *m, void *ud)
{
    (void)ud;
    nm_jointnf_opts o;
    nm_jointnf_opts_init(&o, 4, 9, 0.2, 3);
    return nm_prune_jointnf(m, &o);
}

static void line(const char *what, stamp t, stamp f)
{
    printf("%-36s wall %7.1f ms (floor %6.1f) x%5.2f   cpu %7.1f ms (floor %6.1f) x%5.2f\n", what,
           t.wall * 1e3, f.wall * 1e3, t.wall / f.wall, t.cpu * 1e3, f.cpu * 1e3, t.cpu / f.cpu);
}

/* Kept fraction of all prunable weights (a sanity figure printed beside
 * each method: 2:4 keeps 1/2, 4:9 about 4/9, global 80% exactly 0.2). */
static double density(const nm_model *m)
{
    int64_t kept = 0, all = 0;
    for (int i = 0; i < m->n_layers; i++) {
        nm_layer_stats s;
        if (!nm_layer_prunable(&m->layers[i]))
            continue;
        nm_layer_stats_get(m, i, &s);
        kept += s.nonzeros;
        all += s.params;
    }
    return all ? (double)kept / (double)all : 0;
}

static const char *only; /* run just the lines whose name contains this */

static int wanted(const char *what)
{
    return !only || strstr(what, only) != NULL;
}

static void run(nm_model *m, const char *what, bench_fn fn, void *ud, int reps)
{
    if (!wanted(what))
        return;
    stamp t, f;
    best(m, fn, ud, reps, &t, &f);
    line(what, t, f);
    printf("%-36s density after: %.4f\n", "", density(m));
}

/* Deterministic signed values, half of them negative. */
static void fill(float *v, int64_t n)
{
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++)
        v[i] = (float)((int64_t)((uint64_t)i * 2654435761u % 2001) - 1000);
}

/* NMReLU in place vs an in-place ReLU over the same bytes, alternately. */
static void run_act(nm_tensor *x, const char *what, nm_act_policy p, nm_act_axis ax, int reps)
{
    if (!wanted(what))
        return;
    float *v = nm_f32(x);
    int64_t n = x->numel;
    stamp tf = {INFINITY, INFINITY}, tr = {INFINITY, INFINITY};
    for (int r = 0; r < reps; r++) {
        fill(v, n);
        stamp s = stamp_now();
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < n; i++)
            v[i] = v[i] > 0.0f ? v[i] : 0.0f;
        stamp_min(&tr, s);
        fill(v, n);
        s = stamp_now();
        if (nm_nmrelu_forward(x, x, 4, 9, p, ax)) {
            fprintf(stderr, "failed: %s\n", nm_errmsg());
            exit(1);
        }
        stamp_min(&tf, s);
    }
    line(what, tf, tr);
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 3;
    if (reps < 1)
        reps = 1;
    only = argc > 2 ? argv[2] : NULL;
    nm_model *m = nm_zoo("resnet50", 1);
    if (!m) {
        fprintf(stderr, "zoo: %s\n", nm_errmsg());
        return 1;
    }
    int64_t w = 0;
    for (int i = 0; i < m->n_layers; i++)
        if (nm_layer_prunable(&m->layers[i]))
            w += m->layers[i].weight->numel;
    printf("bench_prune: %s, %lld prunable weights (%.1f MB f32), %d threads, best of %d\n",
           m->name, (long long)w, w * 4e-6, omp_get_max_threads(), reps);
    nm_args a24 = {2, 4, NM_GROUP_IN}, a49 = {4, 9, NM_GROUP_KERNEL}, a49auto = {4, 9, NM_GROUP_AUTO};
    run(m, "N:M 2:4 in (all layers)", nm_fn, &a24, reps);
    run(m, "N:M 4:9 kernel (1x1 stay dense)", nm_fn, &a49, reps);
    run(m, "N:M 4:9 auto (kernel 3x3, in 1x1)", nm_fn, &a49auto, reps);
    run(m, "global magnitude 80%", global_fn, NULL, reps);
    run(m, "NFFS 4:9 u=20% on every layer", nffs_fn, NULL, reps);
    run(m, "JointNF 4:9 f=0.2 one round", jointnf_fn, NULL, reps);
    /* after JointNF: removing filters zeroes their BN gamma and bias,
     * which reset_masks does not restore (JointNF's scores read gamma) */
    run(m, "filters 20% global (groups)", filters_fn, NULL, reps);
    run(m, "JointNF 4:9 f=0.2 three rounds", jointnf3_fn, NULL, reps);
    nm_model_free(m);

    /* NMReLU 4:9 on 64x256x56x56 (51.4M floats, 206 MB), allocated once */
    nm_tensor *x = nm_tensor_new4(NM_F32, 4, 64, 256, 56, 56);
    if (!x) {
        fprintf(stderr, "NMReLU tensor: %s\n", nm_errmsg());
        return 1;
    }
    printf("NMReLU tensor 64x256x56x56: %lld floats (%.0f MB), in place; floor: in-place ReLU\n",
           (long long)x->numel, x->numel * 4e-6);
    run_act(x, "NMReLU 4:9 first, position axis", NM_POLICY_FIRST, NM_AXIS_POSITION, reps);
    run_act(x, "NMReLU 4:9 topk, position axis", NM_POLICY_TOPK, NM_AXIS_POSITION, reps);
    run_act(x, "NMReLU 4:9 first, channel axis", NM_POLICY_FIRST, NM_AXIS_CHANNEL, reps);
    run_act(x, "NMReLU 4:9 topk, channel axis", NM_POLICY_TOPK, NM_AXIS_CHANNEL, reps);
    nm_tensor_release(x);
    return 0;
}
