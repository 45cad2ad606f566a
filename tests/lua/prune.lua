-- nm.prune: N:M, global, NFFS, filters and their reports, checked against
-- independent computations in Lua (hand-worked examples, brute force).
local T = require "nm.test"

math.randomseed(7)

-- A random normal-ish value (sum of uniforms), never exactly tied.
local function rnd() return (math.random() + math.random() + math.random() - 1.5) end

-- A model with one linear layer of `out` x `inp` (input shape {inp, 1, 1}).
local function linear_model(out, inp)
  local m = nm.model("lin", {inp, 1, 1})
  m:add("flatten", "flat")
  m:add("linear", "fc", {out = out, bias = false})
  return m, m:layer("fc")
end

-- A small CNN (tests/lua/fixtures.lua): conv1 (first, skipped by default),
-- conv2, conv3 with BN, then gap, flatten, fc (the classifier, skipped).
local small_cnn = require("fixtures").small_cnn

-- The flat values of a tensor (row-major) and its shape.
local function flat(t)
  local out, sh = {}, t:shape()
  local function walk(tab)
    for _, v in ipairs(tab) do
      if type(v) == "table" then walk(v) else out[#out + 1] = v end
    end
  end
  walk(t:totable())
  return out, sh
end

-- Groups of flat indices (1-based) of a weight [O, C, KH, KW] along `axis`.
local function groups_of(sh, axis, M)
  local O, C, KH, KW = sh[1], sh[2] or 1, sh[3] or 1, sh[4] or 1
  local K, D = KH * KW, C * KH * KW
  local gs = {}
  local function idx(o, c, k) return (o - 1) * D + (c - 1) * K + k end
  for o = 1, O do
    if axis == "kernel" then
      for c = 1, C do
        for s = 1, K, M do
          local g = {}
          for k = s, math.min(s + M - 1, K) do g[#g + 1] = idx(o, c, k) end
          gs[#gs + 1] = g
        end
      end
    elseif axis == "in" then
      for k = 1, K do
        for s = 1, C, M do
          local g = {}
          for c = s, math.min(s + M - 1, C) do g[#g + 1] = idx(o, c, k) end
          gs[#gs + 1] = g
        end
      end
    else -- row
      for s = 1, D, M do
        local g = {}
        for j = s, math.min(s + M - 1, D) do g[#g + 1] = (o - 1) * D + j end
        gs[#gs + 1] = g
      end
    end
  end
  return gs
end

-- Brute force N:M: in each group keep the N largest |w|, ties by lower index.
local function expected_mask(w, gs, N)
  local keep = {}
  for _, g in ipairs(gs) do
    local order = {}
    for i, fi in ipairs(g) do order[i] = fi end
    table.sort(order, function(a, b)
      local x, y = math.abs(w[a]), math.abs(w[b])
      if x ~= y then return x > y end
      return a < b
    end)
    for r, fi in ipairs(order) do keep[fi] = r <= N end
  end
  return keep
end

T.case("hand-worked 4x4 2:4 (linear, groups along the row)", function()
  local _, l = linear_model(4, 4)
  local W = {{0.1, -0.9, 0.5, 0.2},
             {3, 1, -2, 4},
             {1, 1, 1, 1},      -- all tied: the first two stay
             {0, 0, -7, 0}}     -- zeros tie: the lower index stays
  for i = 1, 4 do for j = 1, 4 do l.weight:set(i, j, W[i][j]) end end
  local row = nm.prune.nm(l, {n = 2, m = 4, group = "in"})
  local want = {{0, 1, 1, 0}, {1, 0, 0, 1}, {1, 1, 0, 0}, {1, 0, 1, 0}}
  T.eq(l.mask:totable(), want)
  T.eq(row.name, "fc"); T.eq(row.group, "in"); T.eq(row.nm_holds, true)
  T.eq(row.params, 16); T.eq(row.nonzeros, 7)       -- row 4 keeps a zero
  T.near(row.sparsity, 9 / 16)
  T.eq(row.violations, 0); T.eq(row.groups, 4)
end)

T.case("per-group brute force on a random conv layer, three axes", function()
  for _, case in ipairs{{axis = "kernel", n = 4, m = 9}, {axis = "kernel", n = 1, m = 4},
                        {axis = "in", n = 2, m = 4}, {axis = "in", n = 3, m = 5},
                        {axis = "row", n = 2, m = 7}} do
    local m = nm.model("c", {6, 5, 5})
    m:add("conv", "conv", {out = 5, k = 3, pad = 1})
    local l = m:layer("conv")
    local sh = l.weight:shape()
    for o = 1, sh[1] do for c = 1, sh[2] do for a = 1, 3 do for b = 1, 3 do
      -- a few exact ties to exercise the lower-index rule
      local v = (math.random() < 0.2) and 0.5 or rnd()
      l.weight:set(o, c, a, b, v)
    end end end end
    local w = flat(l.weight)
    nm.prune.nm(l, {n = case.n, m = case.m, group = case.axis})
    local keep = expected_mask(w, groups_of(sh, case.axis, case.m), case.n)
    local mask = flat(l.mask)
    local bad = 0
    for i = 1, #w do
      if (mask[i] ~= 0) ~= keep[i] then bad = bad + 1 end
    end
    T.eq(bad, 0, case.axis .. " " .. case.n .. ":" .. case.m .. " mismatches")
    local ok, viol = nm.check_nm(l, {n = case.n, m = case.m, group = case.axis})
    T.eq(ok, true); T.eq(viol, 0)
  end
end)

T.case("nm on a tensor zeroes in place; check_nm counts violations", function()
  local t = nm.tensor({3, 8})
  for i = 1, 3 do for j = 1, 8 do t:set(i, j, j) end end     -- dense: every group full
  local ok, viol, groups = nm.check_nm(t, {n = 2, m = 4, group = "row"})
  T.eq(ok, false); T.eq(viol, 6); T.eq(groups, 6)
  local r = nm.prune.nm(t, {n = 2, m = 4, group = "row"})
  T.eq(r.nonzeros, 12)
  for i = 1, 3 do
    T.eq({t:get(i, 1), t:get(i, 2), t:get(i, 3), t:get(i, 4)}, {0.0, 0.0, 3.0, 4.0})
  end
  T.eq((nm.check_nm(t, {n = 2, m = 4, group = "row"})), true)
end)

-- Sum of nonzero weights (mask and value) over the layers a report pruned.
local function eligible_nonzeros(model, report)
  local z, p = 0, 0
  for _, r in ipairs(report) do
    if r.pruned then
      local l = model:layer(r.name)
      local w, mk = flat(l.weight), l.mask and flat(l.mask)
      for i = 1, #w do
        if w[i] ~= 0 and (not mk or mk[i] ~= 0) then z = z + 1 end
      end
      p = p + #w
    end
  end
  return z, p
end

T.case("global magnitude removes exactly k over the eligible layers", function()
  local m = small_cnn(3)
  local before_report = nm.prune.nm(m:clone(), {n = 1, m = 1})   -- a scope listing
  local z0, p = eligible_nonzeros(m, before_report)
  T.eq(z0, p)                                            -- synthetic weights: all nonzero
  local rep = nm.prune.global(m, {sparsity = 0.6})
  local z1 = eligible_nonzeros(m, rep)
  T.eq(z0 - z1, math.floor(0.6 * p + 0.5))
  -- and those removed are the smallest: every kept |w| >= every removed |w|
  local kept_min, removed_max = math.huge, 0
  for _, r in ipairs(rep) do
    if r.pruned then
      local l = m:layer(r.name)
      local w, mk = flat(l.weight), flat(l.mask)
      for i = 1, #w do
        if mk[i] ~= 0 then kept_min = math.min(kept_min, math.abs(w[i]))
        else removed_max = math.max(removed_max, math.abs(w[i])) end
      end
    end
  end
  T.ok(kept_min >= removed_max, "kept " .. kept_min .. " < removed " .. removed_max)
  -- first conv and classifier are skipped and untouched
  T.eq(rep[1].skipped, "first conv"); T.eq(rep[1].nonzeros, rep[1].params)
  T.eq(rep[#rep].skipped, "classifier")
end)

T.case("magnitude on a tensor masks exactly round(s * numel)", function()
  local t = nm.tensor({7, 9})
  for i = 1, 7 do for j = 1, 9 do t:set(i, j, rnd()) end end
  nm.prune.magnitude(t, {sparsity = 0.3})
  T.eq(t:numel() - t:nnz(), math.floor(0.3 * 63 + 0.5))
end)

-- All subsets of size u of {1..n}.
local function subsets(n, u)
  local out = {}
  local function rec(start, cur)
    if #cur == u then out[#out + 1] = {table.unpack(cur)}; return end
    for i = start, n do cur[#cur + 1] = i; rec(i + 1, cur); cur[#cur] = nil end
  end
  rec(1, {})
  return out
end

T.case("NFFS equals brute force over row subsets", function()
  for trial = 1, 4 do
    local R, D, N, M, U = 7, 8, 2, 4, 1 + trial % 3
    local _, l = linear_model(R, D)
    local W = {}
    for i = 1, R do
      W[i] = {}
      for j = 1, D do W[i][j] = rnd() * (i == trial and 0.2 or 1); l.weight:set(i, j, W[i][j]) end
    end
    -- brute force: for every set of U rows, |w| removed = all - kept, where
    -- kept = the N:M survivors of the other rows
    local flatw, rowkeep = {}, {}
    for i = 1, R do for j = 1, D do flatw[#flatw + 1] = W[i][j] end end
    local keep = expected_mask(flatw, groups_of({R, D}, "in", M), N)
    local total, best, best_set = 0, math.huge, nil
    for i = 1, R do
      rowkeep[i] = 0
      for j = 1, D do
        total = total + math.abs(W[i][j])
        if keep[(i - 1) * D + j] then rowkeep[i] = rowkeep[i] + math.abs(W[i][j]) end
      end
    end
    for _, set in ipairs(subsets(R, U)) do
      local removed_rows = {}
      for _, r in ipairs(set) do removed_rows[r] = true end
      local kept = 0
      for i = 1, R do if not removed_rows[i] then kept = kept + rowkeep[i] end end
      local loss = total - kept
      if loss < best - 1e-12 then best, best_set = loss, removed_rows end
    end
    local row = nm.prune.nffs(l, {n = N, m = M, u = U, group = "in"})
    T.eq(row.filters_kept, R - U)
    for i = 1, R do
      T.eq(l.filters:get(i) == 0, best_set[i] == true, "trial " .. trial .. " row " .. i)
    end
  end
end)

T.case("filters: global L1 removes round(ratio * F), never a whole layer", function()
  local m = small_cnn(2)
  local rep = nm.prune.filters(m, {ratio = 0.5})
  local F, removed = 0, 0
  for _, r in ipairs(rep) do
    if r.pruned then
      F = F + r.filters
      removed = removed + r.filters - r.filters_kept
      T.ok(r.filters_kept >= 1)
    end
  end
  T.eq(removed, math.floor(0.5 * F + 0.5))
end)

T.case("filters on one layer: round(ratio * C_out) of the lowest mean |w|", function()
  local m = small_cnn(4)
  local l = m:layer("conv2")
  local sh = l.weight:shape()
  local score, order = {}, {}
  for o = 1, sh[1] do
    local s = 0
    for c = 1, sh[2] do for a = 1, 3 do for b = 1, 3 do s = s + math.abs(l.weight:get(o, c, a, b)) end end end
    score[o], order[o] = s, o
  end
  table.sort(order, function(a, b) if score[a] ~= score[b] then return score[a] < score[b] end return a < b end)
  local row = nm.prune.filters(l, {ratio = 0.3})
  local k = math.floor(0.3 * sh[1] + 0.5)
  T.eq(row.filters_kept, sh[1] - k)
  local gone = {}
  for i = 1, k do gone[order[i]] = true end
  for o = 1, sh[1] do T.eq(l.filters:get(o) == 0, gone[o] == true, "filter " .. o) end
  -- the consumer lost the same input channels
  for o = 1, sh[1] do T.eq(m:layer("conv3").in_chans:get(o), l.filters:get(o)) end
  -- a layer feeding a residual add is refused unless allow_add
  local r = nm.model("res", {4, 6, 6})
  r:add("conv", "a", {out = 4, k = 3, pad = 1})
  r:add("conv", "b", {out = 4, k = 3, pad = 1})
  r:add("add", "sum", {input = "b", with = "a"})
  r:init_weights(1)
  T.raises(function() nm.prune.filters(r:layer("b"), {ratio = 0.5}) end, "feeds a residual add")
  -- b's channels are one residual stream with a's (b + a): b alone cannot
  -- lose any (the target is left unmet); on the model (a, the first conv,
  -- follows the stream it feeds) a and b lose the same two channels
  local row = nm.prune.filters(r:layer("b"), {ratio = 0.5, allow_add = true})
  T.eq(row.filters_kept, 4)
  T.eq(row.filters_unmet, 2)
  r:add("conv", "c", {out = 3, k = 1, input = "sum"})  -- reads the stream (the output)
  nm.prune.filters(r, {ratio = 0.5, allow_add = true})
  local kept = 0
  for o = 1, 4 do
    T.eq(r:layer("a").filters:get(o), r:layer("b").filters:get(o), "stream channel " .. o)
    kept = kept + r:layer("b").filters:get(o)
  end
  T.eq(kept, 2)
end)

T.case("reset keeps every weight again", function()
  local m = small_cnn(2)
  nm.prune.global(m, {sparsity = 0.5})
  nm.prune.reset(m)
  for _, r in ipairs(m:stats()) do
    if r.params > 0 then T.eq(r.nonzeros, r.params, r.name) end
  end
end)

T.case("apply_masks zeroes the masked weights", function()
  local _, l = linear_model(2, 4)
  for j = 1, 4 do l.weight:set(1, j, j); l.weight:set(2, j, -j) end
  nm.prune.nm(l, {n = 1, m = 4})
  T.eq(l.weight:nnz(), 8)
  l.model:apply_masks()
  T.eq(l.weight:totable(), {{0, 0, 0, 4}, {0, 0, 0, -4}})
end)

T.case("errors name the field", function()
  local m = small_cnn(1)
  T.raises(function() nm.prune.nm(m, {n = 5, m = 4}) end, "n: n:m = 5:4 is impossible")
  T.raises(function() nm.prune.nm(m, {n = 1, m = 0}) end, "m: n:m = 1:0 is impossible")
  T.raises(function() nm.prune.nm(m, {n = 1, m = 100}) end, "need 1 <= m <= 64")
  T.raises(function() nm.prune.nm(m, {m = 4}) end, "n: required")
  T.raises(function() nm.prune.nm(m, {n = 2, m = 4, group = "diag"}) end, "group: must be one of")
  T.raises(function() nm.prune.nm(m, {n = 2, m = 4, nn = 1}) end, "unknown option 'nn'")
  T.raises(function() nm.prune.nm(m, {n = 2, m = 4, layers = {nope = false}}) end,
    "no layer named 'nope'")
  T.raises(function() nm.prune.nm(42, {n = 2, m = 4}) end, "model, layer or tensor expected")
  T.raises(function() nm.prune.global(m, {}) end, "sparsity: required")
  T.raises(function() nm.prune.global(m, {sparsity = 1.5}) end, "sparsity:")
  T.raises(function() nm.prune.filters(m, {ratio = 1}) end, "ratio:")
  T.raises(function() nm.prune.nffs(m:layer(1), {n = 2, m = 4, u = 1, ratio = 0.5}) end,
    "exactly one of u")
  T.raises(function() nm.prune.nm(m:layer("relu1"), {n = 2, m = 4}) end, "has no weights")
  local t = nm.tensor({2, 4}, 1)
  T.raises(function() nm.compress(t, {n = 2, m = 4, group = "row"}) end, "more than 2:4")
end)

-- nm.prune reads numbers and booleans strictly (nmlua_opt_num/bool with
-- NMLUA_STRICT): no numeric strings, no 0/1 for a boolean; an enum names
-- every choice, also for a non-string; a nil options table is the defaults.
T.case("option types: strict numbers, booleans and enums", function()
  local m = small_cnn(1)
  T.raises(function() nm.prune.filters(m, {ratio = "0.5"}) end,
    "bad argument #2 to 'filters' (ratio: must be a number)")
  T.raises(function() nm.prune.filters(m, {ratio = true}) end, "ratio: must be a number")
  T.raises(function() nm.prune.filters(m, {ratio = 1}) end, "ratio: 1.0 out of range 0.0..0.999999")
  T.raises(function() nm.prune.global(m, {sparsity = "0.5"}) end, "sparsity: must be a number")
  T.raises(function() nm.prune.global(m, {sparsity = 0.5, min_density = true}) end,
    "min_density: must be a number")
  T.raises(function() nm.prune.filters(m, {ratio = 0.25, global = 1}) end,
    "bad argument #2 to 'filters' (global: must be a boolean)")
  T.raises(function() nm.prune.filters(m, {ratio = 0.25, global = 0}) end, "global: must be a boolean")
  T.raises(function() nm.prune.nm(m, {n = 2, m = 4, include_first = "true"}) end,
    "include_first: must be a boolean")
  T.raises(function() nm.prune.nm(m, {n = 2, m = 4, group = 1}) end,
    "group: must be one of 'kernel', 'in', 'row', 'auto'")
  T.raises(function() nm.prune.filters(m, {ratio = 0.25, score = "l2"}) end,
    "score: must be one of 'l1', 'bn'")
  T.raises(function() nm.compress(nm.tensor({2, 4}, 1), {n = 2, m = 4, index = 1}) end,
    "index: must be one of 'simple', 'bitmask', 'combinatorial'")
  -- required options and option tables (nmp_check_call, required_num)
  T.raises(function() nm.prune.filters(m, {}) end, "bad argument #2 to 'filters' (ratio: required)")
  T.raises(function() nm.prune.magnitude(m, {}) end, "bad argument #2 to 'magnitude' (sparsity: required)")
  T.raises(function() nm.prune.global(m, {sparsity = 2}) end, "sparsity: 2.0 out of range 0.0..1.0")
  T.raises(function() nm.prune.nm(m) end, "bad argument #2 to 'nm' (table expected, got nil)")
  T.raises(function() nm.storage(m, 5) end, "bad argument #2 to 'storage' (table expected, got number)")
  T.raises(function() nm.compress(nm.tensor({2, 4}, 1)) end, "bad argument #2 to 'compress' (n: required)")
  T.raises(function() nm.prune.global(m:layer("conv2"), {sparsity = 0.5}) end,
    "bad argument #1 to 'global' (model expected, got nm.layer)")
  T.eq(nm.storage(m).params, nm.storage(m, {}).params)
  -- nothing was pruned by the failed calls
  for _, r in ipairs(m:stats()) do T.eq(r.nonzeros, r.params, r.name) end
  -- act_density without options: groups of one, density = share of nonzeros
  local y = nm.tensor({1, 2, 1, 2})
  y:set(1, 1, 1, 1, 3)
  T.eq(nm.act_density(y).density, 0.25)
end)

T.case("per-layer overrides: skip, force and other N:M", function()
  local m = small_cnn(1)
  local names = {}
  for _, r in ipairs(m:stats()) do
    if r.kind == "conv" or r.kind == "linear" then names[#names + 1] = r.name end
  end
  local rep = nm.prune.nm(m, {n = 2, m = 4, layers = {[names[1]] = {n = 1, m = 4},
    [names[2]] = false}})
  T.eq(rep[1].pruned, true); T.eq(rep[1].n, 1)
  T.eq(rep[2].pruned, false); T.eq(rep[2].skipped, "skipped by option")
  T.eq(rep[2].nonzeros, rep[2].params)
  T.ok(nm.check_nm(m:layer(names[1]), {n = 1, m = 4}))
end)

T.done()
