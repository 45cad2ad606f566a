/* sim_case.h - set-up shared by the simulator tests. */
#ifndef NM_TESTS_SIM_CASE_H
#define NM_TESTS_SIM_CASE_H

#include <criterion/criterion.h>

#include "sim.h"

/* *cfg = sim_config_init's defaults for a rows x cols array of the MAC
 * named `mac` ("pmac", "bmac", "nm-4-4", "nm:2:4:2:4", ...); the name
 * must parse. */
static inline void array_init(sim_config *cfg, const char *mac, int rows, int cols)
{
    sim_mac m;
    cr_assert_eq(sim_mac_parse(mac, &m), NM_OK, "%s: %s", mac, nm_errmsg());
    sim_config_init(cfg, &m, rows, cols);
}

#endif
