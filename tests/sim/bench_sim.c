/* Benchmarks: the analytical engine on a whole ResNet-50 (ImageNet-224,
 * built with the model builders) for each of the paper's four equal-area
 * systems, and the cycle-stepped engine's PE-cycles per second (with and
 * without the memory model), and SCALE-Sim's ResNet-18 run. Each figure
 * is printed beside a baseline measured in the same run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nmio.h"
#include "sim.h"

static int bottleneck(nm_model *m, const char *name, int in, int mid, int out, int stride)
{
    char n[64];
    snprintf(n, sizeof n, "%s.c1", name);
    int a = nm_add_conv(m, n, in, mid, 1, 1, 1, 0, 1, 0);
    snprintf(n, sizeof n, "%s.r1", name);
    a = nm_add_relu(m, n, a, 0);
    snprintf(n, sizeof n, "%s.c2", name);
    a = nm_add_conv(m, n, a, mid, 3, 3, stride, 1, 1, 0);
    snprintf(n, sizeof n, "%s.r2", name);
    a = nm_add_relu(m, n, a, 0);
    snprintf(n, sizeof n, "%s.c3", name);
    a = nm_add_conv(m, n, a, out, 1, 1, 1, 0, 1, 0);
    int sc = in;
    int c, h, w;
    nm_model_out_shape(m, in, &c, &h, &w);
    if (stride != 1 || c != out) {
        snprintf(n, sizeof n, "%s.down", name);
        sc = nm_add_conv(m, n, in, out, 1, 1, stride, 0, 1, 0);
    }
    snprintf(n, sizeof n, "%s.add", name);
    a = nm_add_add(m, n, a, sc);
    snprintf(n, sizeof n, "%s.out", name);
    return nm_add_relu(m, n, a, 0);
}

static nm_model *resnet50(void)
{
    nm_model *m = nm_model_new("resnet50", 3, 224, 224);
    int x = nm_add_conv(m, "conv1", NM_INPUT, 64, 7, 7, 2, 3, 1, 0);
    x = nm_add_relu(m, "relu1", x, 0);
    x = nm_add_pool(m, "pool1", x, NM_LAYER_MAXPOOL, 3, 2, 1);
    const int blocks[4] = {3, 4, 6, 3}, mids[4] = {64, 128, 256, 512};
    for (int s = 0; s < 4; s++)
        for (int b = 0; b < blocks[s]; b++) {
            char name[32];
            snprintf(name, sizeof name, "layer%d.%d", s + 1, b);
            x = bottleneck(m, name, x, mids[s], mids[s] * 4, b == 0 && s > 0 ? 2 : 1);
        }
    x = nm_add_gap(m, "gap", x);
    x = nm_add_flatten(m, "flat", x);
    if (nm_add_linear(m, "fc", x, 1000, 1) < 0) {
        fprintf(stderr, "resnet50: %s\n", nm_errmsg());
        exit(1);
    }
    return m;
}

static void bench_analytic(const nm_model *m)
{
    const char *macs[4] = {"pmac", "bmac", "nm-4-4", "nm-6-4"};
    const int sides[4] = {32, 20, 16, 15};
    int reps = 200;
    /* Baseline: one plain pass over the same layer records computing each
     * conv/linear layer's dense MACs from its geometry. */
    volatile double sink = 0;
    double t0 = nm_now();
    for (int r = 0; r < reps; r++)
        for (int i = 0; i < m->n_layers; i++) {
            const nm_layer *l = &m->layers[i];
            if (nm_layer_prunable(l))
                sink += (double)l->out_h * l->out_w * l->out_c * l->in_c / l->groups * l->kh *
                        l->kw;
        }
    (void)sink;  /* clang: -Wunused-but-set-variable */
    double base = (nm_now() - t0) / reps;
    int nconv = 0;
    for (int i = 0; i < m->n_layers; i++)
        nconv += nm_layer_prunable(&m->layers[i]);
    for (int k = 0; k < 8; k++) {
        /* k >= 4: the same systems with the memory model (64 KB SRAMs,
         * 10 words/cycle) */
        int mem = k >= 4;
        sim_mac mac;
        sim_mac_parse(macs[k % 4], &mac);
        sim_config cfg;
        sim_config_init(&cfg, &mac, sides[k % 4], sides[k % 4]);
        if (mem) {
            cfg.mem_on = 1;
            cfg.sram_ifmap_kb = cfg.sram_filter_kb = cfg.sram_ofmap_kb = 64;
            cfg.bandwidth = 10;
        }
        double t = nm_now(), cycles = 0;
        for (int r = 0; r < reps; r++) {
            sim_report *rep = sim_model_run(m, &cfg, NULL, NULL);
            if (!rep) {
                fprintf(stderr, "%s\n", nm_errmsg());
                exit(1);
            }
            cycles = (double)rep->total.cycles;
            sim_report_free(rep);
        }
        double per = (nm_now() - t) / reps;
        printf("analytic resnet50 %-7s %2dx%-2d%s: %d layers, %.4g cycles, %.3f ms per run "
               "(baseline dense-MAC pass over the layers %.5f ms, ratio %.0f) %s\n",
               macs[k % 4], sides[k % 4], sides[k % 4], mem ? " +memory" : "", nconv, cycles, per * 1e3, base * 1e3, per / base,
               per < 1e-3 ? "OK (< 1 ms)" : "SLOW (>= 1 ms)");
    }
}

static void bench_stepped(void)
{
    sim_mac mac;
    sim_mac_parse("pmac", &mac);
    sim_config cfg;
    sim_config_init(&cfg, &mac, 32, 32);
    sim_gemm g;
    sim_gemm_set(&g, "bench", 3000, 64, 64);
    sim_layer_result res;
    double t = nm_now();
    if (sim_gemm_stepped(&g, &cfg, 0, &res)) {
        fprintf(stderr, "%s\n", nm_errmsg());
        exit(1);
    }
    double dt = nm_now() - t;
    double pec = (double)res.cycles * 32 * 32;
    /* Baseline: a streaming pass that reads and writes the same three
     * R x C int32 planes once per cycle (what the stepper touches). */
    size_t n = 32 * 32;
    int32_t *a = calloc(n, 4), *b = calloc(n, 4), *c = calloc(n, 4);
    volatile int64_t sink = 0;
    t = nm_now();
    for (int64_t cyc = 0; cyc < res.cycles; cyc++) {
        int64_t s = 0;
        for (size_t i = 0; i < n; i++) {
            s += a[i] + b[i];
            c[i] = (int32_t)(a[i] ^ (int32_t)cyc);
        }
        sink += s;
        int32_t *tmp = a;
        a = c, c = tmp;
    }
    (void)sink;
    double bt = nm_now() - t;
    printf("stepped 32x32 pmac ws E=3000 K=64 Nf=64: %lld cycles, %.3g PE-cycles in %.3f s = "
           "%.1f M PE-cycles/s (baseline streaming pass %.1f M/s, ratio %.2f) %s\n",
           (long long)res.cycles, pec, dt, pec / dt / 1e6, pec / bt / 1e6, bt / dt,
           pec / dt >= 50e6 ? "OK (>= 50 M/s)" : "SLOW (< 50 M/s)");
    free(a), free(b), free(c);
}

/* Not a timing: the four equal-area systems on ResNet-50 with the weights
 * each is built for declared (bMAC 3:9, nm 4:9, pMAC dense), default
 * switches; cycles and energy relative to the pMAC system. */
static void paper_systems(nm_model *m)
{
    const char *macs[4] = {"pmac", "bmac", "nm-4-4", "nm-6-4"};
    const int sides[4] = {32, 20, 16, 15}, wn[4] = {0, 3, 4, 4};
    double c0 = 0, e0 = 0;
    for (int k = 0; k < 4; k++) {
        for (int i = 0; i < m->n_layers; i++)
            if (nm_layer_prunable(&m->layers[i]))
                m->layers[i].wn = wn[k], m->layers[i].wm = wn[k] ? 9 : 0;
        sim_mac mac;
        sim_mac_parse(macs[k], &mac);
        sim_config cfg;
        sim_config_init(&cfg, &mac, sides[k], sides[k]);
        sim_report *r = sim_model_run(m, &cfg, NULL, NULL);
        if (!r) {
            fprintf(stderr, "%s\n", nm_errmsg());
            exit(1);
        }
        char sw[512];
        if (k == 0)
            c0 = (double)r->total.cycles, e0 = r->total.e.total;
        printf("system %-7s %2dx%-2d: %.4g cycles (x%.2f vs pMAC), util %.3f, mult util %.3f, "
               "energy %.4g uJ (x%.2f), array area %.3g mm^2 [%s]\n",
               macs[k], sides[k], sides[k], (double)r->total.cycles, c0 / r->total.cycles,
               r->total.util, r->total.mult_util, r->total.e.total * 1e-6,
               e0 / r->total.e.total, r->area.array_um2 * 1e-6,
               sim_config_describe(&cfg, sw, sizeof sw));
        sim_report_free(r);
    }
}

/* The memory model (64 KB SRAMs, 10 words/cycle) on cfg. */
static void with_memory(sim_config *cfg)
{
    cfg->mem_on = 1;
    cfg->sram_ifmap_kb = cfg->sram_filter_kb = cfg->sram_ofmap_kb = 64;
    cfg->bandwidth = 10;
}

/* The cycle-stepped engine with the memory model against itself without
 * it (same GEMM, same run): PE-cycles per second of stepping. */
static void bench_stepped_memory(void)
{
    sim_mac mac;
    sim_mac_parse("pmac", &mac);
    sim_gemm g;
    sim_gemm_set(&g, "bench", 3000, 64, 64);
    double rate[2] = {0, 0};
    int64_t cyc[2] = {0, 0}, stall = 0;
    for (int k = 0; k < 2; k++) {
        sim_config cfg;
        sim_config_init(&cfg, &mac, 32, 32);
        if (k)
            with_memory(&cfg), cfg.bandwidth = 0.5;   /* low enough to stall */
        sim_layer_result res;
        double t = nm_now();
        if (sim_gemm_stepped(&g, &cfg, 0, &res)) {
            fprintf(stderr, "%s\n", nm_errmsg());
            exit(1);
        }
        double dt = nm_now() - t;
        cyc[k] = res.cycles;
        if (k)
            stall = res.stall_cycles;
        rate[k] = (double)res.compute_cycles * 32 * 32 / dt;
    }
    printf("stepped 32x32 pmac ws E=3000 K=64 Nf=64 +memory (64 KB, 0.5 words/cycle): %lld cycles "
           "(%lld stall), %.1f M PE-cycles/s of stepping (baseline: the same without memory, "
           "%lld cycles, %.1f M/s, ratio %.2f) %s\n",
           (long long)cyc[1], (long long)stall, rate[1] / 1e6, (long long)cyc[0], rate[0] / 1e6,
           rate[1] / rate[0], rate[1] >= 50e6 ? "OK (>= 50 M/s)" : "SLOW (< 50 M/s)");
}

/* SCALE-Sim's own ResNet-18 topology and scale.cfg (32x32 pMAC, ws, 64 KB
 * SRAMs, 10 words/cycle, compat): nmlab's wall time for the whole network,
 * analytical and cycle-stepped, beside SCALE-Sim v3's 292-308 s for the
 * same run (issue 16; not rerun here). Skipped without ../shared. */
static void bench_scalesim_resnet18(void)
{
    const char *shared = getenv("NMLAB_SHARED");
    char path[4096];
    snprintf(path, sizeof path, "%s/data/scalesim/resnet18.csv", shared ? shared : "../shared");
    nm_model *m = nm_scalesim_load(path, 1);
    if (!m) {
        printf("scalesim resnet18: skipped (%s; set NMLAB_SHARED)\n", nm_errmsg());
        return;
    }
    sim_mac mac;
    sim_mac_parse("pmac", &mac);
    sim_config cfg;
    sim_config_init(&cfg, &mac, 32, 32);
    cfg.compat_scalesim = 1;
    with_memory(&cfg);
    double ta = nm_now();
    int reps = 20;
    int64_t cycles = 0, stall = 0;
    for (int r = 0; r < reps; r++) {
        sim_report *rep = sim_model_run(m, &cfg, NULL, NULL);
        if (!rep) {
            fprintf(stderr, "%s\n", nm_errmsg());
            exit(1);
        }
        cycles = rep->total.cycles, stall = rep->total.stall_cycles;
        sim_report_free(rep);
    }
    ta = (nm_now() - ta) / reps;
    double ts = nm_now();
    sim_report *rep = sim_model_run_stepped(m, &cfg, 0, NULL, NULL);
    ts = nm_now() - ts;
    if (!rep) {
        fprintf(stderr, "%s\n", nm_errmsg());
        exit(1);
    }
    double pec = (double)rep->total.compute_cycles * 32 * 32;
    printf("scalesim resnet18 32x32 ws 64 KB bw 10 (compat, v3 stalls): %d layers, %lld cycles "
           "(%lld stall); analytic %.3f ms, cycle-stepped %.2f s (%lld cycles, %.1f M PE-cycles/s "
           "with memory %s); baseline SCALE-Sim v3 292-308 s (issue 16, not rerun): analytic "
           "x%.2g, stepped x%.0f faster\n",
           rep->n_layers, (long long)cycles, (long long)stall, ta * 1e3, ts,
           (long long)rep->total.cycles, pec / ts / 1e6,
           pec / ts >= 50e6 ? "OK (>= 50 M/s)" : "SLOW (< 50 M/s)", 292 / ta, 292 / ts);
    sim_report_free(rep);
    nm_model_free(m);
}

int main(void)
{
    nm_model *m = resnet50();
    bench_analytic(m);
    paper_systems(m);
    nm_model_free(m);
    bench_stepped();
    bench_stepped_memory();
    bench_scalesim_resnet18();
    return 0;
}
