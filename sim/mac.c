/* mac.c - MAC kinds: checking, parsing, naming, and their unit (span,
 * block, rounds, multipliers), plus dataflow and index-scheme names. */
#include "sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_nm(const char *what, int n, int m)
{
    if (m < 1 || m > 64 || n < 1 || n > m)
        return nm_seterr("%s sparsity %d:%d is impossible (need 1 <= N <= M <= 64)", what, n, m);
    return NM_OK;
}

int sim_mac_init(sim_mac *mac, sim_mac_kind kind, int dn, int dm, int wn, int wm)
{
    memset(mac, 0, sizeof *mac);
    mac->kind = kind;
    switch (kind) {
    case SIM_PMAC:
        mac->dn = mac->dm = mac->wn = mac->wm = 1;
        return NM_OK;
    case SIM_BMAC:
        mac->dn = mac->dm = 1;
        mac->wn = wn > 0 ? wn : 3;
        mac->wm = wm > 0 ? wm : 9;
        return check_nm("bMAC weight", mac->wn, mac->wm);
    case SIM_NM:
        mac->dn = dn, mac->dm = dm, mac->wn = wn, mac->wm = wm;
        if (check_nm("nm-MAC data", dn, dm) || check_nm("nm-MAC weight", wn, wm))
            return NM_ERR;
        return NM_OK;
    default:
        return nm_seterr("unknown MAC kind %d", (int)kind);
    }
}

int sim_mac_parse(const char *text, sim_mac *mac)
{
    int a, b, c, d, used = 0;
    if (!text)
        return nm_seterr("MAC name is missing");
    if (!strcmp(text, "pmac"))
        return sim_mac_init(mac, SIM_PMAC, 0, 0, 0, 0);
    if (!strcmp(text, "bmac"))
        return sim_mac_init(mac, SIM_BMAC, 0, 0, 3, 9);
    if (sscanf(text, "bmac-%d%n", &a, &used) == 1 && text[used] == 0)
        return sim_mac_init(mac, SIM_BMAC, 0, 0, a, 9);
    if (sscanf(text, "nm-%d-%d%n", &a, &b, &used) == 2 && text[used] == 0)
        return sim_mac_init(mac, SIM_NM, a, 9, b, 9);
    if (sscanf(text, "nm:%d:%d:%d:%d%n", &a, &b, &c, &d, &used) == 4 && text[used] == 0)
        return sim_mac_init(mac, SIM_NM, a, b, c, d);
    return nm_seterr("unknown MAC '%s' (pmac, bmac, bmac-W, nm-D-F, nm:D:nD:F:nF)", text);
}

const char *sim_mac_name(const sim_mac *mac, char *buf, size_t len)
{
    switch (mac->kind) {
    case SIM_PMAC: snprintf(buf, len, "pmac"); break;
    case SIM_BMAC: snprintf(buf, len, "bmac-%d:%d", mac->wn, mac->wm); break;
    case SIM_NM:
        snprintf(buf, len, "nm-%d:%d-%d:%d", mac->dn, mac->dm, mac->wn, mac->wm);
        break;
    default: snprintf(buf, len, "?"); break;
    }
    return buf;
}

int sim_mac_span(const sim_mac *mac) { return mac->kind == SIM_PMAC ? 1 : mac->wm; }
int sim_mac_block(const sim_mac *mac) { return mac->kind == SIM_NM ? mac->dm : 1; }
int sim_mac_rounds(const sim_mac *mac) { return mac->kind == SIM_NM ? mac->dn : 1; }
int sim_mac_mults(const sim_mac *mac) { return mac->kind == SIM_PMAC ? 1 : mac->wn; }

static const char *const df_names[] = {"ws", "os", "is"};
static const char *const idx_names[] = {"simple", "bitmask", "comb"};

const char *sim_dataflow_name(sim_dataflow d)
{
    return (unsigned)d < SIM_DATAFLOW_COUNT ? df_names[d] : "?";
}

int sim_dataflow_parse(const char *s)
{
    for (int i = 0; i < SIM_DATAFLOW_COUNT; i++)
        if (s && !strcmp(s, df_names[i]))
            return i;
    return -1;
}

const char *sim_index_scheme_name(sim_index_scheme s)
{
    return (unsigned)s < 3 ? idx_names[s] : "?";
}

int sim_index_scheme_parse(const char *s)
{
    for (int i = 0; i < 3; i++)
        if (s && !strcmp(s, idx_names[i]))
            return i;
    return -1;
}

void sim_config_init(sim_config *cfg, const sim_mac *mac, int rows, int cols)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->mac = *mac;
    cfg->rows = rows, cfg->cols = cols;
    cfg->dataflow = SIM_WS;
    cfg->batch = 1;
    cfg->idle = SIM_IDLE_GATED;
    cfg->windex = cfg->dindex = SIM_IDX_SIMPLE;
    cfg->sram_kb = 192;
    cfg->double_buffer = 1;
    cfg->attention = 1;
    cfg->word_bytes = 1;
    cfg->area_mode = SIM_AREA_CALIBRATED;
    sim_energy_defaults(&cfg->et);
}

int sim_config_check(const sim_config *cfg)
{
    const sim_mac *m = &cfg->mac;
    sim_mac tmp;
    if (sim_mac_init(&tmp, m->kind, m->dn, m->dm, m->wn, m->wm))
        return NM_ERR;
    if (cfg->rows < 1 || cfg->cols < 1 || cfg->rows > 4096 || cfg->cols > 4096)
        return nm_seterr("array %dx%d: rows and columns must be in 1..4096", cfg->rows, cfg->cols);
    if ((unsigned)cfg->dataflow >= SIM_DATAFLOW_COUNT)
        return nm_seterr("unknown dataflow %d", (int)cfg->dataflow);
    if (cfg->batch < 1 || cfg->batch > 1 << 20)
        return nm_seterr("batch %d out of range 1..1048576", cfg->batch);
    if (cfg->compat_scalesim && m->kind != SIM_PMAC)
        return nm_seterr("compat='scalesim' models pMAC arrays only");
    if ((unsigned)cfg->windex > 2 || (unsigned)cfg->dindex > 2)
        return nm_seterr("unknown index scheme");
    if (sim_mem_check(cfg))
        return NM_ERR;
    return sim_energy_check(&cfg->et);
}
