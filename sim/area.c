/* area.c - PE and system area (calibrated or bottom-up) and equal-area
 * array sizing. */
#include "sim.h"

#include <math.h>

static int bits_for(int n)
{
    int b = 0;
    while ((1 << b) < n)
        b++;
    return b;
}

/* An s:1 select of an 8-bit value with its 4-bit index, as a MUX2 tree. */
static double select_um2(const sim_energy_table *et, int s)
{
    return 12.0 * et->mux2_bit_um2 * (s > 1 ? s - 1 : 0);
}

/* Storage of an nm-MAC for the calibrated interpolation: the compressed
 * data block (#D rows of n_F values with row indices), n_D 24-bit output
 * registers, #F weights with column indices. */
static double nm_buffer_bits(int dn, int dm, int wn, int wm)
{
    return (double)dn * wm * (8 + bits_for(dm)) + dm * 24.0 + wn * (8.0 + bits_for(wm));
}

/* Calibrated: the paper's equal-area ratios pMAC:bMAC:nm-4-4:nm-6-4 =
 * 1:2.56:4.00:4.55 times the pMAC cell. Other shapes move from the nearest
 * calibrated point by (multiplier + its select) per extra multiplier and by
 * a per-bit buffer cost fitted to the nm-4-4 -> nm-6-4 step (0.55 cells for
 * 216 more buffer bits). */
static double calibrated(const sim_mac *mac, const sim_energy_table *et)
{
    double cell = et->pmac_cell_um2;
    switch (mac->kind) {
    case SIM_PMAC:
        return cell;
    case SIM_BMAC: {
        double k_mul = et->mul8_um2 + select_um2(et, mac->wm);
        double a = 2.56 * cell + k_mul * (mac->wn - 3) +
                   (mac->wm - 9) * 8.0 * et->reg_bit_um2;
        return fmax(a, 0.5 * cell);
    }
    default: {
        double b44 = nm_buffer_bits(4, 9, 4, 9), b64 = nm_buffer_bits(6, 9, 4, 9);
        double k_buf = (4.55 - 4.00) * cell / (b64 - b44);
        double k_mul = et->mul8_um2 + select_um2(et, mac->wm);
        double a = 4.00 * cell + k_mul * (mac->wn - 4) +
                   k_buf * (nm_buffer_bits(mac->dn, mac->dm, mac->wn, mac->wm) - b44);
        return fmax(a, 0.5 * cell);
    }
    }
}

/* Bottom-up: multipliers, selects, adders and registers from the table.
 * pMAC: 8-bit multiplier, 24-bit adder, 40 register bits (~624 um^2).
 * bMAC: W multipliers with 9:1 selects, a W-input adder tree (16-bit adds),
 * a 24-bit accumulator, a 9-value data row, W weights with indices, psum.
 * nm-MAC: #F multipliers with n_F:1 selects, #F 24-bit adders, routing of
 * each product to n_D registers (24-bit MUX2 trees), one compressed data row,
 * #F weights with indices, n_D 24-bit output registers. */
static double bottom_up(const sim_mac *mac, const sim_energy_table *et)
{
    double add24 = et->add32_um2 * 24.0 / 32.0, add16 = (et->add8_um2 + et->add32_um2) / 2;
    switch (mac->kind) {
    case SIM_PMAC:
        return et->mul8_um2 + add24 + 40 * et->reg_bit_um2;
    case SIM_BMAC: {
        double bits = mac->wm * 8.0 + mac->wn * (8.0 + bits_for(mac->wm)) + 24;
        return mac->wn * (et->mul8_um2 + select_um2(et, mac->wm)) + (mac->wn - 1) * add16 +
               add24 + bits * et->reg_bit_um2;
    }
    default: {
        double bits = mac->wm * (8.0 + bits_for(mac->dm)) + mac->wn * (8.0 + bits_for(mac->wm)) +
                      mac->dm * 24.0;
        double route = mac->wn * 24.0 * et->mux2_bit_um2 * bits_for(mac->dm);
        return mac->wn * (et->mul8_um2 + select_um2(et, mac->wm) + add24) + route +
               bits * et->reg_bit_um2;
    }
    }
}

double sim_pe_area(const sim_mac *mac, sim_area_mode mode, const sim_energy_table *et)
{
    return mode == SIM_AREA_BOTTOM_UP ? bottom_up(mac, et) : calibrated(mac, et);
}

void sim_area_get(const sim_config *cfg, sim_area *a)
{
    const sim_energy_table *et = &cfg->et;
    a->pe_um2 = sim_pe_area(&cfg->mac, cfg->area_mode, et);
    a->array_um2 = a->pe_um2 * cfg->rows * cfg->cols;
    a->acc_um2 = et->acc_um2_per_col * cfg->cols;
    a->sfu_um2 = et->sfu_um2_per_row * cfg->rows;
    a->sram_um2 = et->sram_um2_per_kb * cfg->sram_kb;
    a->total_um2 = a->array_um2 + a->acc_um2 + a->sfu_um2 + a->sram_um2;
}

int sim_equal_area_side(const sim_mac *mac, sim_area_mode mode, const sim_energy_table *et,
                        double budget_um2)
{
    double pe = sim_pe_area(mac, mode, et);
    if (!(pe > 0) || !(budget_um2 > 0))
        return 0;
    /* Relative tolerance: 20*20*2.56 must count as exactly 1024 cells.
     * A side past 2^30 (an infinite budget included) is returned as 2^30:
     * converting a larger double to int is undefined. */
    double side = floor(sqrt(budget_um2 / pe));
    if (!(side < 1073741824.0))
        return 1073741824;
    int n = (int)side + 1;
    while (n > 0 && (double)n * n * pe > budget_um2 * (1 + 1e-9))
        n--;
    return n;
}
