/* fuzz_energy_json.c - sim_energy_load_json (the energy/area table) on
 * arbitrary bytes. The load is all or nothing: on failure the table must
 * be untouched; on success it must save and reload to the same table (to
 * the 12 significant digits the writer prints). */
#include "fuzz_util.h"
#include "sim.h"

#include <math.h>

/* Same node and every field equal to 12 significant digits. */
static int same_table(sim_energy_table *a, sim_energy_table *b)
{
    if (a->node_nm != b->node_nm)
        return 0;
    for (int i = 0; i < sim_energy_field_count(); i++) {
        double *x, *y;
        sim_energy_field(a, i, &x);
        sim_energy_field(b, i, &y);
        if (fabs(*x - *y) > 1e-11 * fabs(*x))
            return 0;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write(data, size);
    sim_energy_table et, def;
    sim_energy_defaults(&et);
    sim_energy_defaults(&def);
    if (sim_energy_load_json(path, &et) == NM_OK) {
        FUZZ_CHECK(sim_energy_save_json(path, &et) == NM_OK);
        sim_energy_table back;
        sim_energy_defaults(&back);
        FUZZ_CHECK(sim_energy_load_json(path, &back) == NM_OK);
        FUZZ_CHECK(same_table(&back, &et));
    } else {
        FUZZ_CHECK(memcmp(&et, &def, sizeof et) == 0);
    }
    return 0;
}
