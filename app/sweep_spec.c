/* sweep_spec.c - loading, checking and enumerating a sweep spec. See
 * sweep_spec.h. */
#include "sweep_spec.h"

#include <jansson.h>
#include <lauxlib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t sweep_hash(const void *data, size_t n)
{
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    /* splitmix64's finalizer: every bit of the input reaches every bit of
     * the id */
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 31;
    return h;
}

void sweep_hash_hex(const void *data, size_t n, char out[17])
{
    snprintf(out, 17, "%016llx", (unsigned long long)sweep_hash(data, n));
}

/* Reads a whole file; NULL if it cannot. The caller frees. */
static char *read_text(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n + 1 >= cap) {
            char *nb = cap > ((size_t)64 << 20) ? NULL : realloc(buf, cap *= 2);
            if (nb == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
    }
    if (buf && ferror(f)) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        *len = n;
    }
    return buf;
}

static int traceback(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    luaL_traceback(L, L, msg ? msg : "(error object is not a string)", 1);
    return 1;
}

/* Protected: loads the spec (text only, from the bytes read once, so every
 * worker runs what was hashed) with its folder first on package.path, runs
 * it and leaves its one result. */
static int load_chunk(lua_State *L)
{
    const sweep_spec *s = lua_touserdata(L, 1);
    const char *path = s->path;
    const char *slash = strrchr(path, '/');
    lua_getglobal(L, "package");
    if (slash)
        lua_pushlstring(L, path, (size_t)(slash - path) + 1);
    else
        lua_pushliteral(L, "./");
    const char *dir = lua_tostring(L, -1);
    lua_getfield(L, -2, "path");
    lua_pushfstring(L, "%s?.lua;%s?/init.lua;%s", dir, dir, lua_tostring(L, -1));
    lua_setfield(L, -4, "path");
    lua_pop(L, 3);
    lua_pushfstring(L, "@%s", path);
    if (luaL_loadbufferx(L, s->text, s->textlen, lua_tostring(L, -1), "t") != LUA_OK)
        return lua_error(L);
    lua_call(L, 0, 1);
    return 1;
}

/* Loads the spec in h and leaves its returned value on the stack. */
static int push_spec(nmlua_host *h, const sweep_spec *s, char *err, size_t errlen)
{
    lua_State *L = nmlua_host_state(h);
    const char *path = s->path;
    lua_pushcfunction(L, traceback);
    lua_pushcfunction(L, load_chunk);
    lua_pushlightuserdata(L, (void *)s);
    if (lua_pcall(L, 1, 1, -3) != LUA_OK) {
        const char *m = lua_tostring(L, -1);
        snprintf(err, errlen, "%s: %s", path, m ? m : "cannot load");
        lua_pop(L, 2);
        return -1;
    }
    lua_remove(L, -2);
    return 0;
}

static const char *value_kind_ok(lua_State *L, int idx)
{
    int t = lua_type(L, idx);
    return t == LUA_TNUMBER || t == LUA_TSTRING || t == LUA_TBOOLEAN ? NULL : luaL_typename(L, idx);
}

/* Protected: checks the spec table at index 1 (path at 2); raises a
 * message naming the field that is wrong. */
static int check_spec(lua_State *L)
{
    const char *path = lua_tostring(L, 2);
    if (!lua_istable(L, 1))
        return luaL_error(L, "%s: a sweep spec must return a table {name = ..., params = {...}, "
                          "seeds = k, run = function(p) ... end}, not a %s", path, luaL_typename(L, 1));
    int t = lua_getfield(L, 1, "run");
    if (t != LUA_TFUNCTION)
        return luaL_error(L, "%s: field 'run' must be a function (called with each point's params), "
                          "not a %s", path, lua_typename(L, t));
    lua_pop(L, 1);
    t = lua_getfield(L, 1, "name");
    if (t != LUA_TNIL && (t != LUA_TSTRING || lua_rawlen(L, -1) == 0))
        return luaL_error(L, "%s: field 'name' must be a non-empty string", path);
    lua_pop(L, 1);
    t = lua_getfield(L, 1, "params");
    if (t != LUA_TNIL && t != LUA_TTABLE)
        return luaL_error(L, "%s: field 'params' must be a table of lists like {n = {1, 2}}, not a %s",
                          path, lua_typename(L, t));
    if (t == LUA_TTABLE) {
        lua_pushnil(L);
        while (lua_next(L, -2)) {
            if (lua_type(L, -2) != LUA_TSTRING)
                return luaL_error(L, "%s: params keys must be names (strings), not a %s", path,
                                  luaL_typename(L, -2));
            const char *k = lua_tostring(L, -2);
            if (strcmp(k, "seed") == 0)
                return luaL_error(L, "%s: params.seed is reserved (use the field 'seeds')", path);
            if (!lua_istable(L, -1))
                return luaL_error(L, "%s: params.%s must be a list of values like {1, 2}, not a %s",
                                  path, k, luaL_typename(L, -1));
            lua_Integer n = (lua_Integer)lua_rawlen(L, -1), count = 0;
            if (n == 0)
                return luaL_error(L, "%s: params.%s is an empty list (a sweep over it has no points)",
                                  path, k);
            if (n > SWEEP_MAX_LIST)
                return luaL_error(L, "%s: params.%s has more than %d values", path, k, SWEEP_MAX_LIST);
            lua_pushnil(L);
            while (lua_next(L, -2)) {
                count++;
                if (!lua_isinteger(L, -2) || lua_tointeger(L, -2) < 1 || lua_tointeger(L, -2) > n)
                    return luaL_error(L, "%s: params.%s must be a list {v1, v2, ...} (it has other keys)",
                                      path, k);
                const char *bad = value_kind_ok(L, -1);
                if (bad)
                    return luaL_error(L, "%s: params.%s[%d] is a %s; values must be numbers, strings "
                                      "or booleans", path, k, (int)lua_tointeger(L, -2), bad);
                if (lua_type(L, -1) == LUA_TNUMBER && !lua_isinteger(L, -1) && !isfinite(lua_tonumber(L, -1)))
                    return luaL_error(L, "%s: params.%s[%d] is not a finite number", path, k,
                                      (int)lua_tointeger(L, -2));
                lua_pop(L, 1);
            }
            if (count != n)
                return luaL_error(L, "%s: params.%s must be a list without holes", path, k);
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
    t = lua_getfield(L, 1, "seeds");
    if (t == LUA_TNUMBER) {
        if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 || lua_tointeger(L, -1) > SWEEP_MAX_LIST)
            return luaL_error(L, "%s: field 'seeds' must be a count from 1 to %d or a list of "
                              "integers", path, SWEEP_MAX_LIST);
    } else if (t == LUA_TTABLE) {
        lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
        if (n == 0)
            return luaL_error(L, "%s: field 'seeds' is an empty list", path);
        if (n > SWEEP_MAX_LIST)
            return luaL_error(L, "%s: field 'seeds' has more than %d values", path, SWEEP_MAX_LIST);
        for (lua_Integer i = 1; i <= n; i++) {
            lua_rawgeti(L, -1, i);
            if (!lua_isinteger(L, -1))
                return luaL_error(L, "%s: seeds[%d] must be an integer", path, (int)i);
            lua_pop(L, 1);
        }
    } else if (t != LUA_TNIL) {
        return luaL_error(L, "%s: field 'seeds' must be a count or a list of integers, not a %s",
                          path, lua_typename(L, t));
    }
    return 0;
}

static json_t *lua_to_json_scalar(lua_State *L, int idx)
{
    switch (lua_type(L, idx)) {
    case LUA_TBOOLEAN: return json_boolean(lua_toboolean(L, idx));
    case LUA_TSTRING: {
        size_t n;
        const char *s = lua_tolstring(L, idx, &n);
        return json_stringn(s, n);
    }
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx))
            return json_integer((json_int_t)lua_tointeger(L, idx));
        return json_real(lua_tonumber(L, idx));
    default: return NULL;
    }
}

typedef struct {
    char *key;
    json_t *values;   /* array */
} param_list;

static int cmp_param(const void *a, const void *b)
{
    return strcmp(((const param_list *)a)->key, ((const param_list *)b)->key);
}

/* Fills s->points from the checked spec table at the top of L's stack. */
static int enumerate(sweep_spec *s, lua_State *L, char *err, size_t errlen)
{
    int spec = lua_gettop(L), rc = -1;
    param_list *pl = NULL;
    size_t np = 0;
    long long *seeds = NULL;
    size_t nseeds = 0;
    if (lua_getfield(L, spec, "params") == LUA_TTABLE) {
        size_t cap = 0;
        lua_pushnil(L);
        while (lua_next(L, -2)) {
            if (np == cap) {
                param_list *n = realloc(pl, (cap = cap ? 2 * cap : 8) * sizeof *pl);
                if (n == NULL)
                    goto oom;
                pl = n;
            }
            pl[np].key = strdup(lua_tostring(L, -2));
            pl[np].values = json_array();
            np++;
            if (pl[np - 1].key == NULL || pl[np - 1].values == NULL)
                goto oom;
            size_t n = lua_rawlen(L, -1);
            for (size_t i = 1; i <= n; i++) {
                lua_rawgeti(L, -1, (lua_Integer)i);
                json_t *v = lua_to_json_scalar(L, -1);
                lua_pop(L, 1);
                if (v == NULL || json_array_append_new(pl[np - 1].values, v) != 0)
                    goto oom;
            }
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
    qsort(pl, np, sizeof *pl, cmp_param);
    int t = lua_getfield(L, spec, "seeds");
    nseeds = t == LUA_TNUMBER ? (size_t)lua_tointeger(L, -1) : t == LUA_TTABLE ? lua_rawlen(L, -1) : 1;
    seeds = malloc(nseeds * sizeof *seeds);
    if (seeds == NULL)
        goto oom;
    for (size_t i = 0; i < nseeds; i++) {
        if (t == LUA_TTABLE) {
            lua_rawgeti(L, -1, (lua_Integer)i + 1);
            seeds[i] = (long long)lua_tointeger(L, -1);
            lua_pop(L, 1);
        } else {
            seeds[i] = (long long)i + 1;
        }
    }
    lua_pop(L, 1);
    /* Two points with one id would overwrite each other's rows: a value
     * listed twice, or a seed, is refused. */
    for (size_t i = 0; i < np; i++)
        for (size_t a = 0; a < json_array_size(pl[i].values); a++)
            for (size_t b = a + 1; b < json_array_size(pl[i].values); b++)
                if (json_equal(json_array_get(pl[i].values, a), json_array_get(pl[i].values, b))) {
                    snprintf(err, errlen, "%s: params.%s lists the same value twice (items %zu and %zu)",
                             s->path, pl[i].key, a + 1, b + 1);
                    goto out;
                }
    for (size_t a = 0; a < nseeds; a++)
        for (size_t b = a + 1; b < nseeds; b++)
            if (seeds[a] == seeds[b]) {
                snprintf(err, errlen, "%s: seeds lists %lld twice", s->path, seeds[a]);
                goto out;
            }
    size_t combos = 1;
    for (size_t i = 0; i < np; i++) {
        size_t n = json_array_size(pl[i].values);
        if (combos > SWEEP_MAX_POINTS / n) {
            combos = SWEEP_MAX_POINTS + 1;
            break;
        }
        combos *= n;
    }
    if (combos > SWEEP_MAX_POINTS / nseeds) {
        snprintf(err, errlen, "%s: more than %d points (params x seeds); split the sweep", s->path,
                 SWEEP_MAX_POINTS);
        goto out;
    }
    s->npoints = combos * nseeds;
    s->points = calloc(s->npoints, sizeof *s->points);
    if (s->points == NULL)
        goto oom;
    size_t k = 0;
    for (size_t c = 0; c < combos; c++) {
        json_t *obj = json_object();
        if (obj == NULL)
            goto oom;
        size_t rest = c;
        for (size_t i = np; i-- > 0;) {   /* the last key varies fastest */
            size_t n = json_array_size(pl[i].values);
            json_object_set(obj, pl[i].key, json_array_get(pl[i].values, rest % n));
            rest /= n;
        }
        char *js = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(17));
        json_decref(obj);
        if (js == NULL)
            goto oom;
        for (size_t si = 0; si < nseeds; si++, k++) {
            sweep_point *p = &s->points[k];
            p->params = strdup(js);
            if (p->params == NULL) {
                free(js);
                goto oom;
            }
            p->seed = seeds[si];
            p->pos = k;
            char buf[64];
            int n = snprintf(buf, sizeof buf, "\n%lld", p->seed);
            uint64_t h = sweep_hash(js, strlen(js)) ^ sweep_hash(buf, (size_t)n) * 3;
            snprintf(p->id, sizeof p->id, "%016llx", (unsigned long long)h);
        }
        free(js);
    }
    rc = 0;
    goto out;
oom:
    snprintf(err, errlen, "%s: out of memory enumerating the points", s->path);
out:
    for (size_t i = 0; i < np; i++) {
        free(pl[i].key);
        json_decref(pl[i].values);
    }
    free(pl);
    free(seeds);
    return rc;
}

int sweep_spec_load(sweep_spec *s, const char *path, const nmlua_options *opt,
                    char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    size_t len = 0;
    s->path = strdup(path);
    s->text = read_text(path, &len);
    if (s->path == NULL || s->text == NULL) {
        snprintf(err, errlen, "%s: cannot read the sweep spec", path);
        sweep_spec_free(s);
        return -1;
    }
    s->textlen = len;
    sweep_hash_hex(s->text, len, s->hash);
    nmlua_host *h = nmlua_host_new(opt, err, errlen);
    if (h == NULL) {
        sweep_spec_free(s);
        return -1;
    }
    lua_State *L = nmlua_host_state(h);
    int rc = push_spec(h, s, err, errlen);
    if (rc == 0) {
        lua_pushcfunction(L, check_spec);
        lua_pushvalue(L, -2);
        lua_pushstring(L, path);
        if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
            const char *m = lua_tostring(L, -1);
            snprintf(err, errlen, "%s", m ? m : "bad sweep spec");
            rc = -1;
        }
    }
    if (rc == 0) {
        lua_settop(L, 1);
        if (lua_getfield(L, 1, "name") == LUA_TSTRING) {
            s->name = strdup(lua_tostring(L, -1));
        } else {
            const char *base = strrchr(path, '/');
            base = base ? base + 1 : path;
            size_t n = strlen(base);
            if (n > 4 && strcmp(base + n - 4, ".lua") == 0)
                n -= 4;
            s->name = strndup(base, n);
        }
        lua_pop(L, 1);
        if (s->name == NULL) {
            snprintf(err, errlen, "out of memory");
            rc = -1;
        } else {
            rc = enumerate(s, L, err, errlen);
        }
    }
    nmlua_host_free(h);
    if (rc != 0)
        sweep_spec_free(s);
    return rc;
}

int sweep_spec_push_run(nmlua_host *h, const sweep_spec *s, char *err, size_t errlen)
{
    lua_State *L = nmlua_host_state(h);
    if (push_spec(h, s, err, errlen) != 0)
        return -1;
    if (!lua_istable(L, -1) || lua_getfield(L, -1, "run") != LUA_TFUNCTION) {
        snprintf(err, errlen, "%s: the spec did not return a table with a run function this time",
                 s->path);
        lua_settop(L, 0);
        return -1;
    }
    lua_remove(L, -2);
    return 0;
}

void sweep_spec_free(sweep_spec *s)
{
    for (size_t i = 0; i < s->npoints; i++)
        free(s->points[i].params);
    free(s->points);
    free(s->path);
    free(s->name);
    free(s->text);
    memset(s, 0, sizeof *s);
}
