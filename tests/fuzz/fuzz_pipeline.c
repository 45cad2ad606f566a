/* fuzz_pipeline.c - load -> prune -> simulate, the path a model file takes
 * through nmlab. The first input byte picks the N:M pattern, the MAC and
 * the array; the rest is a model file of any kind nm_model_load reads
 * (safetensors, ONNX, SCALE-Sim CSV). A model that loads and prunes
 * must hold the pattern in every pruned layer; it is then simulated. */
#include "fuzz_util.h"
#include "nmio.h"
#include "prune.h"
#include "sim.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const int nm[4][2] = {{2, 4}, {1, 4}, {4, 8}, {1, 2}};
    static const char *const macs[4] = {"pmac", "bmac", "nm-4-4", "nm:2:4:2:4"};
    int n = nm[data[0] & 3][0], m = nm[data[0] & 3][1];
    const char *mac_name = macs[(data[0] >> 2) & 3];
    int side = 4 << ((data[0] >> 4) & 3);   /* 4 .. 32 */
    const char *path = fuzz_write(data + 1, size - 1);
    char *warnings = NULL;
    nm_model *mdl = nm_model_load(path, &warnings);
    free(warnings);
    if (!mdl)
        return 0;
    nm_nm_opts o;
    nm_nm_opts_init(&o, n, m);
    nm_prune_report *rep = NULL;
    if (nm_prune_nm_model(mdl, &o, &rep) == NM_OK) {
        for (int i = 0; i < rep->n_layers; i++)
            FUZZ_CHECK(!rep->layers[i].pruned || rep->layers[i].nm_holds);
        nm_prune_report_free(rep);
    }
    sim_mac mac;
    FUZZ_CHECK(sim_mac_parse(mac_name, &mac) == NM_OK);
    sim_config cfg;
    sim_config_init(&cfg, &mac, side, side);
    sim_report_free(sim_model_run(mdl, &cfg, NULL, NULL));
    nm_model_free(mdl);
    return 0;
}
