/* bench_groups - building the channel dependency groups (groups.c) of the
 * zoo's ResNet-50 and ViT-B/16 (architecture only: groups do not read
 * weights). Printed beside a baseline measured alternately in the same
 * run: the chain walk filter pruning used before groups
 * (nm_model_channel_consumers from every conv/linear layer). Best of
 * `reps` runs, wall time. Target from issue 12: under 50 ms per model.
 * Model files given after reps (ONNX or .nmm, e.g. the torchvision
 * exports of make test-peers: densenet121.onnx) are loaded and timed too.
 * Usage: bench_groups [reps [model file ...]] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model.h"
#include "nmio.h"
#include "prune.h"
#include "zoo_builder.h"

static double chain_walk(const nm_model *m)
{
    static int out[4096];
    double t = nm_now();
    long total = 0;
    for (int i = 0; i < m->n_layers; i++) {
        if (!nm_layer_prunable(&m->layers[i]))
            continue;
        int feeds = 0;
        total += nm_model_channel_consumers(m, i, out, 4096, &feeds);
    }
    t = nm_now() - t;
    if (total < 0)
        printf("impossible\n");
    return t;
}

/* Process CPU time in seconds (all threads; the build is serial). */
static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void bench(const char *name, nm_model *m, int reps)
{
    if (!m) {
        fprintf(stderr, "%s: %s\n", name, nm_errmsg());
        exit(1);
    }
    double best_g = INFINITY, best_b = INFINITY, best_c = INFINITY, first_g = 0, first_c = 0;
    int ng = 0, np = 0;
    for (int r = 0; r < reps; r++) {
        double b = chain_walk(m);
        if (b < best_b)
            best_b = b;
        double t = nm_now(), c = cpu_now();
        nm_group_opts o;
        nm_group_opts_init(&o);
        o.allow_add = 1;
        nm_group_set *s = nm_prune_groups(m, &o);
        t = nm_now() - t;
        c = cpu_now() - c;
        if (r == 0)
            first_g = t, first_c = c;
        if (c < best_c)
            best_c = c;
        if (!s) {
            fprintf(stderr, "%s: %s\n", name, nm_errmsg());
            exit(1);
        }
        ng = s->n_groups;
        np = 0;
        for (int g = 0; g < s->n_groups; g++)
            np += s->groups[g].prunable;
        nm_group_set_free(s);
        if (t < best_g)
            best_g = t;
    }
    printf("%-10s groups %6d (prunable %6d): %7.2f ms   chain walk baseline %7.2f ms   x%.2f   "
           "target < 50 ms: %s\n",
           name, ng, np, best_g * 1e3, best_b * 1e3, best_g / best_b, best_g < 0.05 ? "met" : "MISSED");
    printf("%-10s   cpu best %.2f ms; first build wall %.2f ms, cpu %.2f ms\n", "", best_c * 1e3,
           first_g * 1e3, first_c * 1e3);
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 5;
    if (reps < 1)
        reps = 1;
    nm_model *r50 = zoo_resnet50();
    bench("resnet50", r50, reps);
    nm_model_free(r50);
    nm_model *vit = zoo_vit_b16();
    bench("vit_b16", vit, reps);
    nm_model_free(vit);
    for (int a = 2; a < argc; a++) {
        char *warn = NULL;
        nm_model *m = nm_model_load(argv[a], &warn);
        free(warn);
        const char *base = strrchr(argv[a], '/');
        bench(base ? base + 1 : argv[a], m, reps);
        nm_model_free(m);
    }
    return 0;
}
