/* The simulator takes data N:M only where nm_layer_act_source finds it:
 * a three-layer model worked by hand on a 16x16 nm-MAC-4-4 array.
 *
 * Model: input (9, 3, 3) -> c1 1x1 (9) -> relu -> c2 1x1 (9) -> gelu ->
 * c3 1x1 (9). Each conv is a GEMM E = 9 positions, K = 9, Nf = 9 with
 * dense weights: slice s = n_F = 9 holds 9 nonzeros, so split =
 * ceil(9 / #F=4) = 3 PEs, Sr = 3, Sc = 9, Eb = ceil(9 / n_D=9) = 1 block.
 * Rounds per block: #D = 4 where data N:M applies (c2: its input is a
 * ReLU the SFU turns into NMReLU 4:9), n_D = 9 where the data is dense
 * (c1 reads the image, c3 a GELU). WS, one fold: load R + R + C + T - 2 =
 * 16 + 16 + 16 + T - 2, so c1 55, c2 50, c3 55 cycles.
 * eff_macs = E K' Nf x weight density (1) x data density: c2 9*9*9*4/9 =
 * 324, c1 and c3 729. Data bytes: c1 and c3 dense, 81 values, no index;
 * c2 9 groups (one per reduction column) of 4 values + 4 x 4-bit indices:
 * 36 value bytes, 18 index bytes. Outputs compressed only for c1 (its
 * output goes to the ReLU): 36 + 18; c2 (to a GELU) and c3 81 + 0. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "sim.h"
#include "sim_case.h"
#include "../test_tmpdir.h"

static nm_model *three_layers(void)
{
    nm_model *m = nm_model_new("three", 9, 3, 3);
    cr_assert_not_null(m);
    cr_assert(nm_add_conv(m, "c1", NM_INPUT, 9, 1, 1, 1, 0, 1, 0) >= 0);
    cr_assert(nm_add_relu(m, "relu", NM_PREV, 0) >= 0);
    cr_assert(nm_add_conv(m, "c2", NM_PREV, 9, 1, 1, 1, 0, 1, 0) >= 0);
    cr_assert(nm_add_gelu(m, "gelu", NM_PREV) >= 0);
    cr_assert(nm_add_conv(m, "c3", NM_PREV, 9, 1, 1, 1, 0, 1, 0) >= 0);
    nm_model_init_weights(m, 3);
    return m;
}

Test(sim_act, data_nm_only_where_an_nmrelu_feeds_the_layer)
{
    nm_model *m = three_layers();
    sim_config cfg;
    array_init(&cfg, "nm-4-4", 16, 16);
    sim_report *r = sim_model_run(m, &cfg, NULL, NULL);
    cr_assert_not_null(r, "%s", nm_errmsg());
    cr_assert_eq(r->n_layers, 3);
    const int applied[3] = {0, 1, 0};
    const int64_t cycles[3] = {55, 50, 55};
    const double eff[3] = {729, 324, 729};
    const double dval[3] = {81, 36, 81}, didx[3] = {0, 18, 0};
    const double oval[3] = {36, 81, 81}, oidx[3] = {18, 0, 0};
    for (int i = 0; i < 3; i++) {
        const sim_layer_result *l = &r->layers[i];
        cr_expect_eq(l->act_applied, applied[i], "%s", l->name);
        cr_expect_eq(l->u.T, applied[i] ? 4 : 9, "%s: T %lld", l->name, (long long)l->u.T);
        cr_expect_eq(l->cycles, cycles[i], "%s: %lld cycles", l->name, (long long)l->cycles);
        cr_expect_float_eq(l->eff_macs, eff[i], 1e-9, "%s: %g", l->name, l->eff_macs);
        cr_expect_float_eq(l->products, eff[i], 1e-9, "%s", l->name);
        cr_expect_float_eq(l->d_val_bits / 8, dval[i], 1e-9, "%s: %g", l->name, l->d_val_bits / 8);
        cr_expect_float_eq(l->d_idx_bits / 8, didx[i], 1e-9, "%s: %g", l->name, l->d_idx_bits / 8);
        cr_expect_float_eq(l->o_val_bits / 8, oval[i], 1e-9, "%s: %g", l->name, l->o_val_bits / 8);
        cr_expect_float_eq(l->o_idx_bits / 8, oidx[i], 1e-9, "%s: %g", l->name, l->o_idx_bits / 8);
    }
    cr_expect_eq(r->total.act_applied, 1);
    cr_expect_eq(r->total.cycles, 55 + 50 + 55);
    sim_report_free(r);

    /* the stepped engine charges the same cycles */
    r = sim_model_run_stepped(m, &cfg, 0, NULL, NULL);
    cr_assert_not_null(r, "%s", nm_errmsg());
    for (int i = 0; i < 3; i++)
        cr_expect_eq(r->layers[i].cycles, cycles[i], "stepped %s", r->layers[i].name);
    sim_report_free(r);

    /* act_all: the user declares data N:M everywhere (the old assumption):
     * 50 cycles, 324 MACs, compressed data and outputs on every layer */
    cfg.act_all = 1;
    r = sim_model_run(m, &cfg, NULL, NULL);
    cr_assert_not_null(r, "%s", nm_errmsg());
    for (int i = 0; i < 3; i++) {
        const sim_layer_result *l = &r->layers[i];
        cr_expect_eq(l->act_applied, 1, "%s", l->name);
        cr_expect_eq(l->cycles, 50, "%s", l->name);
        cr_expect_float_eq(l->eff_macs, 324, 1e-9, "%s", l->name);
        cr_expect_float_eq(l->d_idx_bits / 8, 18, 1e-9, "%s", l->name);
        cr_expect_float_eq(l->o_idx_bits / 8, 18, 1e-9, "%s", l->name);
    }
    char buf[512];
    cr_expect(strstr(sim_config_describe(&cfg, buf, sizeof buf), "act=all"), "%s", buf);
    sim_report_free(r);

    /* bMAC and pMAC never take data N:M */
    array_init(&cfg, "bmac", 16, 16);
    r = sim_model_run(m, &cfg, NULL, NULL);
    cr_assert_not_null(r, "%s", nm_errmsg());
    cr_expect_eq(r->total.act_applied, 0);
    sim_report_free(r);
    nm_model_free(m);
}

/* The CSV's last column and the JSON rows carry act_applied; the switches
 * carry act. */
Test(sim_act, report_files_say_act_applied)
{
    nm_model *m = three_layers();
    sim_config cfg;
    array_init(&cfg, "nm-4-4", 16, 16);
    sim_report *r = sim_model_run(m, &cfg, NULL, NULL);
    cr_assert_not_null(r, "%s", nm_errmsg());
    char dir[128], csv[160], js[160];
    cr_assert_not_null(tmpdir_new(dir, sizeof dir, "simact"));
    snprintf(csv, sizeof csv, "%s/r.csv", dir);
    snprintf(js, sizeof js, "%s/r.json", dir);
    cr_assert_eq(sim_report_write_csv(r, csv), NM_OK, "%s", nm_errmsg());
    cr_assert_eq(sim_report_write_json(r, js), NM_OK, "%s", nm_errmsg());
    /* CSV: two comment lines, the header, c1 c2 c3, total (1 layer) */
    FILE *f = fopen(csv, "r");
    cr_assert_not_null(f);
    char line[4096];
    const char *last[] = {NULL, NULL, "act_applied", "0", "1", "0", "1"};
    for (int i = 0; i < 7; i++) {
        cr_assert_not_null(fgets(line, sizeof line, f), "line %d", i);
        line[strcspn(line, "\n")] = 0;
        const char *comma = strrchr(line, ',');
        if (i == 0)
            cr_expect(strstr(line, "act=auto"), "%s", line);
        if (last[i])
            cr_expect(comma && strcmp(comma + 1, last[i]) == 0, "line %d: %s", i, line);
    }
    fclose(f);
    json_error_t err;
    json_t *root = json_load_file(js, 0, &err);
    cr_assert_not_null(root, "%s", err.text);
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(root, "switches"), "act")),
                     "auto");
    json_t *layers = json_object_get(root, "layers");
    for (int i = 0; i < 3; i++)
        cr_expect_eq(json_integer_value(json_object_get(json_array_get(layers, i), "act_applied")),
                     i == 1, "layer %d", i);
    json_decref(root);
    cr_expect_eq(tmpdir_remove(dir), 0);
    sim_report_free(r);
    nm_model_free(m);
}
