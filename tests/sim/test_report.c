/* Whole-model runs and reports: totals are the sums of the rows, the
 * switches are recorded, CSV (nmlab and SCALE-Sim columns) and JSON files
 * read back, removed filters and input channels shrink the GEMM. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim.h"
#include "sim_case.h"

static nm_model *small_cnn(void)
{
    nm_model *m = nm_model_new("small", 3, 16, 16);
    nm_add_conv(m, "c1", NM_INPUT, 16, 3, 3, 1, 1, 1, 0);
    nm_add_relu(m, "r1", NM_PREV, 0);
    nm_add_conv(m, "c2", NM_PREV, 32, 3, 3, 2, 1, 1, 0);
    nm_add_relu(m, "r2", NM_PREV, 0);
    nm_add_dwconv(m, "dw", NM_PREV, 3, 1, 1);
    nm_add_gap(m, "gap", NM_PREV);
    nm_add_flatten(m, "flat", NM_PREV);
    cr_assert(nm_add_linear(m, "fc", NM_PREV, 10, 1) >= 0, "%s", nm_errmsg());
    return m;
}

static int count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    int n = 0, ch;
    while ((ch = fgetc(f)) != EOF)
        n += ch == '\n';
    fclose(f);
    return n;
}

Test(report, model_run_totals_and_files)
{
    nm_model *m = small_cnn();
    sim_config cfg;
    array_init(&cfg, "nm-4-4", 8, 8);
    sim_report *r = sim_model_run(m, &cfg, NULL, NULL);
    cr_assert_not_null(r, "%s", nm_errmsg());
    cr_assert_eq(r->n_layers, 4);
    int64_t cyc = 0;
    double e = 0;
    for (int i = 0; i < r->n_layers; i++)
        cyc += r->layers[i].cycles, e += r->layers[i].e.total;
    cr_assert_eq(r->total.cycles, cyc);
    cr_assert_float_eq(r->total.e.total, e, 1e-6 * e);
    /* dwconv: 32 groups of a 9 x 1 GEMM one after another. */
    cr_assert_eq(r->layers[2].g.groups, 32);
    cr_assert_eq(r->layers[2].g.Kp, 9);

    char dir[] = "/tmp/nmlab_rep_XXXXXX", csv[128], js[128];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(csv, sizeof csv, "%s/r.csv", dir);
    snprintf(js, sizeof js, "%s/r.json", dir);
    cr_assert_eq(sim_report_write_csv(r, csv), NM_OK, "%s", nm_errmsg());
    cr_assert_eq(sim_report_write_json(r, js), NM_OK, "%s", nm_errmsg());
    /* switches and area comments, header, 4 layers, total */
    cr_assert_eq(count_lines(csv), 8);
    json_error_t err;
    json_t *root = json_load_file(js, 0, &err);
    cr_assert_not_null(root, "%s", err.text);
    json_t *sw = json_object_get(root, "switches");
    cr_assert_str_eq(json_string_value(json_object_get(sw, "mac")), "nm-4:9-4:9");
    cr_assert_str_eq(json_string_value(json_object_get(sw, "idle")), "gated");
    cr_assert_str_eq(json_string_value(json_object_get(sw, "area")), "calibrated");
    cr_assert(json_is_false(json_object_get(sw, "dram")));
    cr_assert_eq(json_array_size(json_object_get(root, "layers")), 4);
    json_t *et = json_object_get(root, "energy_table");
    cr_assert_float_eq(json_real_value(json_object_get(et, "mul8_pj")), 0.2, 1e-12);
    cr_assert_eq(json_integer_value(json_object_get(et, "node_nm")), 45);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(root, "total"), "cycles")),
                 cyc);
    json_decref(root);

    /* SCALE-Sim columns in compat mode. */
    sim_report_free(r);
    array_init(&cfg, "pmac", 8, 8);
    cfg.compat_scalesim = 1;
    r = sim_model_run(m, &cfg, NULL, NULL);
    cr_assert_not_null(r, "%s", nm_errmsg());
    cr_assert_eq(sim_report_write_csv(r, csv), NM_OK);
    FILE *f = fopen(csv, "r");
    char line[512];
    cr_assert(fgets(line, sizeof line, f));
    cr_assert_str_eq(line, "LayerID, Total Cycles (incl. prefetch), Total Cycles, Stall Cycles, "
                           "Overall Util %, Mapping Efficiency %, Compute Util %,\n");
    cr_assert(fgets(line, sizeof line, f));
    long long id, c1, c2, stall;
    cr_assert_eq(sscanf(line, "%lld, %lld, %lld, %lld,", &id, &c1, &c2, &stall), 4);
    cr_assert_eq(c1, r->layers[0].cycles);
    fclose(f);
    cr_assert_eq(count_lines(csv), 5);

    /* A missing directory fails cleanly. */
    cr_assert_eq(sim_report_write_json(r, "/nonexistent/dir/r.json"), NM_ERR);
    sim_report_free(r);
    unlink(csv), unlink(js), rmdir(dir);
    nm_model_free(m);
}

/* Removed filters (c1 keeps 12 of 16) and removed input channels of c2
 * (derived from c1's filters when derive_in_chans is on). */
Test(report, removed_filters_and_channels)
{
    nm_model *m = small_cnn();
    nm_layer *c1 = &m->layers[nm_model_find(m, "c1")];
    c1->filters = nm_tensor_new4(NM_U8, 1, 16, 0, 0, 0);
    for (int i = 0; i < 16; i++)
        nm_u8(c1->filters)[i] = i < 12;
    sim_config cfg;
    array_init(&cfg, "pmac", 8, 8);
    sim_gemm g;
    cr_assert_eq(sim_gemm_from_layer(m, 0, &cfg, &g), NM_OK);
    cr_assert_eq(g.Nf, 12);
    cr_assert_eq(g.Nf_all, 16);
    int c2 = nm_model_find(m, "c2");
    cr_assert_eq(sim_gemm_from_layer(m, c2, &cfg, &g), NM_OK);
    cr_assert_eq(g.Kp, 16 * 9);
    cfg.derive_in_chans = 1;
    cr_assert_eq(sim_gemm_from_layer(m, c2, &cfg, &g), NM_OK);
    cr_assert_eq(g.Kp, 12 * 9);
    cr_assert_eq(g.E, 8 * 8);
    cr_assert_eq(sim_gemm_from_layer(m, nm_model_find(m, "r1"), &cfg, &g), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "not a conv"), "%s", nm_errmsg());
    nm_model_free(m);
}

/* The whole model through the stepped engine gives the same rows. */
Test(report, stepped_model_run_matches_analytic)
{
    nm_model *m = small_cnn();
    const char *macs[3] = {"pmac", "bmac", "nm-6-4"};
    for (int k = 0; k < 3; k++) {
        sim_config cfg;
        array_init(&cfg, macs[k], 4, 5);
        cfg.dataflow = (sim_dataflow)k;
        sim_report *a = sim_model_run(m, &cfg, NULL, NULL);
        sim_report *s = sim_model_run_stepped(m, &cfg, 0, NULL, NULL);
        cr_assert(a && s, "%s", nm_errmsg());
        cr_assert_str_eq(s->engine, "stepped");
        for (int i = 0; i < a->n_layers; i++) {
            cr_assert_eq(a->layers[i].cycles, s->layers[i].cycles, "%s layer %d", macs[k], i);
            cr_assert_float_eq(a->layers[i].e.total, s->layers[i].e.total,
                               1e-9 * a->layers[i].e.total);
        }
        cr_assert_float_eq(a->total.util, s->total.util, 1e-12);
        sim_report_free(a);
        sim_report_free(s);
    }
    nm_model_free(m);
}
