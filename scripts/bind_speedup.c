/* bind_speedup.c - nm.speedup(model [, opts]): what N:M buys on this CPU
 * next to what an nm-MAC array would give, layer by layer.
 *
 * Per conv/linear layer with an N:M mask: the GEMM's shape, dense OpenBLAS
 * time and compressed-kernel time on the same X (engine/sparse,
 * nm_nm_layer_time_run), the measured speed-up, the pattern's ideal m/n and
 * the kept-count ideal D/kpr, and the simulated cycles of a pMAC array on
 * the layer against an nm-MAC array (weights n:m, dense data) of equal
 * array area (or the same side), so the array's speed-up for the same layer
 * (sim/, analytic engine). Layers the kernel cannot run come back with a
 * `skipped` reason. */
#include "nm_gemm.h"
#include "nmlua.h"
#include "sim.h"

#include <omp.h>
#include <string.h>

static const char *const isa_opts[] = {"auto", "scalar", "avx2", "avx512", NULL};
static const char *const clock_opts[] = {"wall", "cpu", NULL};
static const char *const keys[] = {"batch", "reps", "array", "equal_area", "layers", "isa", "clock",
                                   NULL};

/* Raises on an option key not in keys. */
static void check_keys(lua_State *L, int arg)
{
    if (lua_isnoneornil(L, arg))
        return;
    luaL_checktype(L, arg, LUA_TTABLE);
    lua_pushnil(L);
    while (lua_next(L, arg)) {
        int ok = 0;
        if (lua_type(L, -2) == LUA_TSTRING)
            for (int i = 0; keys[i]; i++)
                ok |= strcmp(lua_tostring(L, -2), keys[i]) == 0;
        if (!ok)
            luaL_argerror(L, arg, lua_pushfstring(L, "unknown option '%s'", luaL_tolstring(L, -2, NULL)));
        lua_pop(L, 1);
    }
}

/* Raises unless every entry of opts.layers (when given) is the name of a
 * layer of m: a misspelt name would otherwise select nothing, silently. */
static void check_layer_names(lua_State *L, int arg, const nm_model *m)
{
    if (nmlua_opt_field(L, arg, "layers") == LUA_TNIL) {
        lua_pop(L, 1);
        return;
    }
    if (!lua_istable(L, -1))
        nmlua_field_error(L, arg, "layers", "must be a list of layer names");
    lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, -1, i);
        if (lua_type(L, -1) != LUA_TSTRING)
            nmlua_field_error(L, arg, "layers",
                              lua_pushfstring(L, "[%I] is a %s, not a layer name", i,
                                              luaL_typename(L, -1)));
        if (nm_model_find(m, lua_tostring(L, -1)) < 0)
            nmlua_field_error(L, arg, "layers",
                              lua_pushfstring(L, "no layer named '%s' in %s", lua_tostring(L, -1),
                                              m->name));
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

/* 1 if layer `name` is selected by opts.layers (absent: all). */
static int selected(lua_State *L, int arg, const char *name)
{
    if (nmlua_opt_field(L, arg, "layers") == LUA_TNIL) {
        lua_pop(L, 1);
        return 1;
    }
    if (!lua_istable(L, -1))
        nmlua_field_error(L, arg, "layers", "must be a list of layer names");
    int hit = 0;
    lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
    for (lua_Integer i = 1; i <= n && !hit; i++) {
        lua_rawgeti(L, -1, i);
        hit = lua_type(L, -1) == LUA_TSTRING && strcmp(lua_tostring(L, -1), name) == 0;
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return hit;
}

/* Cycles of layer idx under cfg (analytic engine), or -1 with a message. */
static int64_t sim_cycles(const nm_model *m, int idx, const sim_config *cfg)
{
    sim_gemm g;
    sim_layer_result r;
    if (sim_gemm_from_layer(m, idx, cfg, &g) || sim_gemm_analytic(&g, cfg, NULL, &r))
        return -1;
    return r.cycles;
}

/* nm.speedup(model [, {batch=1, reps=3, array=32, equal_area=true,
 * layers={names}, isa='auto', clock='wall'}]) -> rows, total */
static int l_speedup(lua_State *L)
{
    nm_model *m = nmlua_check_model(L, 1);
    check_keys(L, 2);
    int batch = nmlua_opt_int(L, 2, "batch", 1, 1, 4096);
    int reps = nmlua_opt_int(L, 2, "reps", 3, 1, 1000);
    int side = nmlua_opt_int(L, 2, "array", 32, 1, 4096);
    int equal = nmlua_opt_bool(L, 2, "equal_area", 1, NMLUA_STRICT);
    nm_isa isa = (nm_isa)nmlua_opt_enum(L, 2, "isa", 0, isa_opts);
    nm_clock clk = (nm_clock)nmlua_opt_enum(L, 2, "clock", 0, clock_opts);
    if (!nm_isa_supported(isa))
        nmlua_field_error(L, 2, "isa", lua_pushfstring(L, "this CPU does not run %s", nm_isa_name(isa)));
    m = nmlua_model_use(L, 1, "nm.speedup", NMLUA_USE_READ);
    check_layer_names(L, 2, m);
    sim_mac pm;
    sim_config pc;
    sim_mac_init(&pm, SIM_PMAC, 0, 0, 0, 0);
    sim_config_init(&pc, &pm, side, side);
    pc.batch = batch;
    sim_area pa;
    sim_area_get(&pc, &pa);

    lua_newtable(L);
    int rows = lua_gettop(L);
    int nrow = 0, ran = 0, nlayers = 0;
    double td = 0, ts = 0, cd = 0, cs = 0;
    for (int i = 0; i < m->n_layers; i++) {
        const nm_layer *l = &m->layers[i];
        if (!nm_layer_prunable(l) && l->kind != NM_LAYER_MATMUL)
            continue;
        if (!selected(L, 2, l->name))
            continue;
        nlayers++;
        if (nmlua_progress(L, (double)i / m->n_layers, "nm.speedup"))
            return luaL_error(L, "nm.speedup: cancelled");
        lua_createtable(L, 0, 24);
        nmlua_set_str(L, "name", l->name);
        nmlua_set_str(L, "kind", nm_layer_kind_name(l->kind));
        nm_nm_layer_time t;
        nmlua_budget nb;
        nmlua_budget_begin(L, &nb);
        int rc = nm_nm_layer_time_run(m, i, batch, reps, isa, clk, &t);
        nmlua_budget_end(&nb);
        if (rc != NM_OK) {
            nmlua_set_str(L, "skipped", nm_errmsg());
            lua_rawseti(L, rows, ++nrow);
            continue;
        }
        nmlua_set_int(L, "rows", t.rows);
        nmlua_set_int(L, "D", t.D);
        nmlua_set_int(L, "cols", t.cols);
        nmlua_set_int(L, "groups", t.groups);
        nmlua_set_int(L, "n", t.n);
        nmlua_set_int(L, "m", t.m);
        nmlua_set_str(L, "axis", nm_group_axis_name(t.axis));
        nmlua_set_str(L, "isa", nm_isa_name(t.isa));
        nmlua_set_num(L, "kept", (double)t.kpr / (double)t.D);
        nmlua_set_num(L, "dense_ms", 1e3 * t.dense_s);
        nmlua_set_num(L, "nm_ms", 1e3 * t.nm_s);
        nmlua_set_num(L, "speedup", t.dense_s / t.nm_s);
        nmlua_set_num(L, "ideal", (double)t.m / t.n);
        nmlua_set_num(L, "ideal_kept", (double)t.D / (double)t.kpr);
        nmlua_set_num(L, "err_ratio", t.err_ratio);
        nmlua_set_bool(L, "exact", t.err_ratio <= 1.0);
        ran++;
        td += t.dense_s, ts += t.nm_s;
        /* the array: pMAC side x side against an nm-MAC with the layer's
         * weight n:m and dense data (9-row blocks, as the paper's nm-MAC) */
        sim_mac nmac;
        sim_config nc;
        int64_t c0 = sim_cycles(m, i, &pc), c1 = -1;
        if (c0 >= 0 && sim_mac_init(&nmac, SIM_NM, 9, 9, t.n, t.m) == NM_OK) {
            int ns = equal ? sim_equal_area_side(&nmac, pc.area_mode, &pc.et, pa.array_um2) : side;
            if (ns < 1) {
                nm_seterr("no nm-MAC PE fits the pMAC array's area");
            } else {
                sim_config_init(&nc, &nmac, ns, ns);
                nc.batch = batch;
                nmlua_set_int(L, "sim_side", ns);
                c1 = sim_cycles(m, i, &nc);
            }
        }
        if (c0 >= 0 && c1 > 0) {
            nmlua_set_int(L, "sim_dense_cycles", c0);
            nmlua_set_int(L, "sim_nm_cycles", c1);
            nmlua_set_num(L, "sim_speedup", (double)c0 / (double)c1);
            cd += (double)c0, cs += (double)c1;
        } else {
            nmlua_set_str(L, "sim_skipped", nm_errmsg());
        }
        lua_rawseti(L, rows, ++nrow);
    }
    lua_createtable(L, 0, 12);
    nmlua_set_int(L, "layers", nlayers);
    nmlua_set_int(L, "ran", ran);
    nmlua_set_int(L, "skipped", nlayers - ran);
    nmlua_set_int(L, "batch", batch);
    nmlua_set_int(L, "threads", clk == NM_CLOCK_CPU ? 1 : omp_get_max_threads());
    nmlua_set_str(L, "clock", clock_opts[clk]);
    nmlua_set_str(L, "isa", nm_isa_name(isa == NM_ISA_AUTO ? nm_isa_best() : isa));
    nmlua_set_int(L, "array", side);
    nmlua_set_bool(L, "equal_area", equal);
    if (ran) {
        nmlua_set_num(L, "dense_ms", 1e3 * td);
        nmlua_set_num(L, "nm_ms", 1e3 * ts);
        nmlua_set_num(L, "speedup", td / ts);
    } else {
        nmlua_set_str(L, "message", "no layer could run the compressed kernel (see each row's skipped)");
    }
    if (cs > 0) {
        nmlua_set_num(L, "sim_dense_cycles", cd);
        nmlua_set_num(L, "sim_nm_cycles", cs);
        nmlua_set_num(L, "sim_speedup", cd / cs);
    }
    return 2;
}

void nmlua_open_speedup(lua_State *L, int nm)
{
    lua_pushcfunction(L, l_speedup);
    lua_setfield(L, nm, "speedup");
}
