/* bind_mem.c - the engine's memory budget (tensor.h) tied to the script's
 * memory limit, and nm.memory(): what the engine holds, for scripts and
 * tests.
 *
 * A binding that loads or builds something big wraps the engine call in
 * nmlua_budget_begin/end. Inside, every reservation the engine makes (a
 * file's declared size, a zoo model's size, any tensor past those) is
 * counted against --mem-limit as the Lua heap and held objects are
 * (nmlua_mem_reserve), so a refusal comes before the allocation. The
 * reservation is given back at the end; the binding then counts the object
 * it hands to Lua as usual. */
#include "nmlua.h"

static int budget_ask(void *ud, size_t bytes)
{
    nmlua_budget *nb = ud;
    if (nmlua_mem_reserve(nb->L, bytes) != NM_OK)
        return NM_ERR;
    nb->held += bytes;
    return NM_OK;
}

void nmlua_budget_begin(lua_State *L, nmlua_budget *nb)
{
    nb->L = L;
    nb->held = 0;
    nm_mem_budget_push(&nb->b, budget_ask, nb);
}

int nmlua_budget_end(nmlua_budget *nb)
{
    nm_mem_budget_pop(&nb->b);
    nmlua_mem_release(nb->L, nb->held);
    nb->held = 0;
    return nb->b.refused;
}

/* nm.memory() -> {engine = bytes, engine_peak = bytes, lua = bytes}:
 * tensor bytes the engine holds now (all of them, whoever holds them), the
 * most it held since the start or nm.memory_reset_peak(), and the Lua heap. */
static int l_memory(lua_State *L)
{
    lua_createtable(L, 0, 3);
    nmlua_set_int(L, "engine", (lua_Integer)nm_mem_live());
    nmlua_set_int(L, "engine_peak", (lua_Integer)nm_mem_peak());
    nmlua_set_int(L, "lua", (lua_Integer)nmlua_host_mem_used(nmlua_host_of(L)));
    return 1;
}

/* nm.memory_reset_peak(): engine_peak becomes what the engine holds now. */
static int l_memory_reset_peak(lua_State *L)
{
    (void)L;
    nm_mem_reset_peak();
    return 0;
}

void nmlua_open_mem(lua_State *L, int nm)
{
    lua_pushcfunction(L, l_memory);
    lua_setfield(L, nm, "memory");
    lua_pushcfunction(L, l_memory_reset_peak);
    lua_setfield(L, nm, "memory_reset_peak");
}
