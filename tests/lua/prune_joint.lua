-- nm.prune.jointnf: the schedule, the final N:M, filter counts, callbacks
-- (finetune, on_round, progress) and their errors; effective MACs after.
local T = require "nm.test"

-- conv1 (first: skipped), conv2 and conv3 (pruned, filter candidates), fc
-- (classifier: skipped). F = 16 + 12 = 28 candidate filters.
local small_cnn = require("fixtures").small_cnn
local PRUNED = {"conv2", "conv3"}
local F = 16 + 12

-- Counts, over the pruned layers, survivors beyond N in each 3x3 kernel
-- (the candidate pool) and the kept weights, from the masks in Lua.
local function pool_of(m, N)
  local pool = 0
  for _, name in ipairs(PRUNED) do
    local l = m:layer(name)
    local mk = l.mask and l.mask:totable()
    local sh = l.weight:shape()
    for o = 1, sh[1] do for c = 1, sh[2] do
      local kept = 0
      for a = 1, 3 do for b = 1, 3 do
        if not mk or mk[o][c][a][b] ~= 0 then kept = kept + 1 end
      end end
      if kept > N then pool = pool + kept - N end
    end end
  end
  return pool
end

local function round(x) return math.floor(x + 0.5) end

T.case("three rounds: schedule, exact 4:9 at the end, filters = round(f*F)", function()
  local m = small_cnn(1)
  local R, f = 3, 0.25
  local seen, stats, pools = {}, {}, {}
  local rep = nm.prune.jointnf(m, {n = 4, m = 9, filters = f, rounds = R,
    finetune = function(model, r)
      T.ok(model == m, "finetune gets the model")
      seen[#seen + 1] = r
      pools[r] = pool_of(model, 4)
    end,
    on_round = function(s)
      stats[#stats + 1] = s
      -- per-layer densities agree with the masks counted here
      T.eq(#s.layers, 2)
      for i, ls in ipairs(s.layers) do
        T.eq(ls.name, PRUNED[i])
        local l = m:layer(ls.name)
        T.near(ls.density, l.mask:nnz() / l.weight:numel(), 1e-12, ls.name)
        T.eq(ls.filters_kept, ls.filters - (ls.filters - (l.filters and l.filters:nnz() or ls.filters)))
      end
    end})
  T.eq(seen, {1, 2, 3})
  T.eq(#stats, 3)
  local removed = 0
  for r = 1, R do
    T.eq(stats[r].round, r); T.eq(stats[r].rounds, R)
    -- uniform schedule: round r prunes 1/(R-r+1) of what remains
    local want = r == R and pools[r] or round(pools[r] / (R - r + 1))
    T.eq(stats[r].weights_pruned, want, "round " .. r)
    removed = removed + stats[r].filters_removed
    T.eq(removed, round(f * F * r / R), "filters after round " .. r)
  end
  T.eq(pool_of(m, 4), 0)
  for _, name in ipairs(PRUNED) do
    local ok, viol = nm.check_nm(m:layer(name), {n = 4, m = 9, group = "kernel"})
    T.eq(ok, true, name); T.eq(viol, 0)
  end
  -- filters removed in total: round(0.25 * 28) = 7, no layer emptied
  local gone = 0
  for _, name in ipairs(PRUNED) do
    local l = m:layer(name)
    gone = gone + l.filters:numel() - l.filters:nnz()
    T.ok(l.filters:nnz() >= 1)
  end
  T.eq(gone, 7)
  -- propagation: conv3 lost the input channels of conv2's removed filters
  local f2, i3 = m:layer("conv2").filters, m:layer("conv3").in_chans
  for c = 1, 16 do T.eq(i3:get(c), f2:get(c), "channel " .. c) end
  -- first conv and classifier untouched
  T.eq(rep[1].skipped, "first conv"); T.eq(rep[#rep].skipped, "classifier")
  T.eq(rep[1].nonzeros, rep[1].params)
  for _, r in ipairs(rep) do
    if r.pruned then T.eq(r.nm_holds, true); T.eq(r.n, 4); T.eq(r.m, 9) end
  end
end)

T.case("effective MACs follow the section 5 formula", function()
  local m = small_cnn(2)
  nm.prune.jointnf(m, {n = 4, m = 9, filters = 0.25, rounds = 2})
  local rows = m:stats({act = {n = 4, m = 9}})
  local plain = m:stats()
  for _, r in ipairs(rows) do
    if r.name == "conv3" or r.name == "conv2" then
      local l = m:layer(r.name)
      local fk = l.filters:nnz()
      local ck = l.in_chans and l.in_chans:nnz() or l.in_shape[1]
      local P = l.out_shape[2] * l.out_shape[3]
      T.near(r.eff_macs, P * fk * ck * 9 * (4 / 9) * (4 / 9), 1e-6, r.name)
      T.near(plain[r.index].eff_macs, P * fk * ck * 9 * (4 / 9), 1e-6, r.name)
      T.eq(r.filters_removed, l.filters:numel() - fk)
    end
  end
end)

T.case("a raising finetune stops with a clean error; the model stays usable", function()
  local m = small_cnn(3)
  local calls = 0
  local err = T.raises(function()
    nm.prune.jointnf(m, {n = 4, m = 9, filters = 0.2, rounds = 3,
      finetune = function(_, r) calls = calls + 1; if r == 2 then error("boom") end end})
  end, "boom")
  T.ok(err:find("finetune (round 2)", 1, true), err)
  T.eq(calls, 2)
  T.ok(#m:stats() > 0)
  -- a non-string error value comes through as it is
  local ok, e = pcall(nm.prune.jointnf, small_cnn(3), {n = 4, m = 9,
    finetune = function() error({code = 7}) end})
  T.eq(ok, false); T.eq(type(e), "table"); T.eq(e.code, 7)
end)

T.case("errors in on_round and progress, a freed model, bad options", function()
  T.raises(function()
    nm.prune.jointnf(small_cnn(4), {n = 4, m = 9, on_round = function(s)
      if s.round == 1 then error("stats broke") end end})
  end, "on_round (round 1)")
  local fr = {}
  nm.prune.jointnf(small_cnn(4), {n = 4, m = 9, rounds = 2,
    progress = function(x, what) fr[#fr + 1] = x; T.eq(type(what), "string") end})
  T.eq(fr[1], 0.0); T.eq(fr[#fr], 1.0)
  T.raises(function()
    nm.prune.jointnf(small_cnn(4), {n = 4, m = 9, progress = function() error("pbad") end})
  end, "pbad")
  T.raises(function()
    nm.prune.jointnf(small_cnn(4), {n = 4, m = 9, finetune = function(model) model:free() end})
  end, "model:free: model is in use by nm.prune.jointnf")
  -- a model JointNF does not use can be freed by <close> in a callback
  -- (inuse.lua has the cases with the model JointNF uses)
  local closed
  nm.prune.jointnf(small_cnn(4), {n = 4, m = 9, on_round = function(s)
    local m2 <close> = small_cnn(1)
    closed = m2
  end})
  T.raises(function() return #closed end, "model has been freed")
  -- afterwards free and <close> work again
  do local m3 <close> = small_cnn(1) end
  local m4 = small_cnn(1); m4:free()
  T.raises(function() return #m4 end, "model has been freed")
  T.raises(function()
    nm.prune.jointnf(small_cnn(4), {n = 4, m = 9, finetune = function(model)
      model:add("relu", "extra") end})
  end, "model:add: model is in use by nm.prune.jointnf")
  T.raises(function() nm.prune.jointnf(small_cnn(4), {n = 10, m = 9}) end, "n: n:m = 10:9")
  T.raises(function() nm.prune.jointnf(small_cnn(4), {n = 4, m = 9, rounds = 0}) end, "rounds:")
  T.raises(function() nm.prune.jointnf(small_cnn(4), {n = 4, m = 9, finetune = 3}) end,
    "finetune: must be a function")
end)

-- Filters removed from a layer, counted on its keep vector.
local function lost(l)
  if not l.filters then return 0 end
  local r = 0
  for t = 1, l.filters:shape()[1] do if l.filters:get(t) == 0 then r = r + 1 end end
  return r
end

T.case("per-layer filter caps: max_sparsity / min_density in filters and jointnf", function()
  -- conv2 (16) may lose floor(0.3 * 16) = 4, conv3 (12) floor(0.3 * 12) = 3:
  -- 7 = round(0.25 * 28) is exactly feasible
  for _, opts in ipairs{{max_sparsity = 0.3}, {min_density = 0.7},
                        {max_sparsity = 0.3, min_density = 0.7}} do
    local m = small_cnn(3)
    local rep = nm.prune.filters(m, {ratio = 0.25, max_sparsity = opts.max_sparsity,
      min_density = opts.min_density})
    T.eq(rep.filters_unmet, 0); T.eq(rep.message, nil)
    T.ok(lost(m:layer("conv2")) <= 4); T.ok(lost(m:layer("conv3")) <= 3)
    T.eq(lost(m:layer("conv2")) + lost(m:layer("conv3")), 7)
    m = small_cnn(3)
    rep = nm.prune.jointnf(m, {n = 4, m = 9, filters = 0.25, rounds = 2,
      max_sparsity = opts.max_sparsity, min_density = opts.min_density})
    T.eq(rep.filters_unmet, 0)
    T.ok(lost(m:layer("conv2")) <= 4); T.ok(lost(m:layer("conv3")) <= 3)
    T.eq(lost(m:layer("conv2")) + lost(m:layer("conv3")), 7)
  end
  -- infeasible: 14 asked, caps 4 + 3
  local m = small_cnn(3)
  local rep = nm.prune.filters(m, {ratio = 0.5, max_sparsity = 0.25})
  T.eq(lost(m:layer("conv2")), 4); T.eq(lost(m:layer("conv3")), 3)
  T.eq(rep.filters_unmet, 7); T.ok(rep.message:find("left 7 of the filter target"), rep.message)
  m = small_cnn(3)
  rep = nm.prune.jointnf(m, {n = 4, m = 9, filters = 0.5, rounds = 2, max_sparsity = 0.25})
  T.eq(lost(m:layer("conv2")), 4); T.eq(lost(m:layer("conv3")), 3)
  T.eq(rep.filters_unmet, 7); T.ok(rep.message ~= nil)
  T.raises(function() nm.prune.filters(small_cnn(3), {ratio = 0.2, max_sparsity = 0.5,
    min_density = 0.6}) end, "disagree")
  T.raises(function() nm.prune.jointnf(small_cnn(3), {n = 4, m = 9, max_sparsity = 0.5,
    min_density = 0.6}) end, "disagree")
  T.raises(function() nm.prune.filters(small_cnn(3), {ratio = 0.2, max_sparsity = 1.5}) end,
    "max_sparsity")
  T.raises(function() nm.prune.jointnf(small_cnn(3), {n = 4, m = 9, min_density = -1}) end,
    "min_density")
end)

T.case("MobileNet-v2 JointNF 4:9, 20 % filters, max_sparsity 0.5 keeps half of every layer", function()
  local m <close> = nm.zoo("mobilenet_v2", {seed = 1})
  local rep = nm.prune.jointnf(m, {n = 4, m = 9, filters = 0.2, rounds = 2, max_sparsity = 0.5})
  T.eq(rep.filters_unmet, 0)
  for _, l in ipairs(m:layers()) do
    if l.filters then
      local c = l.filters:shape()[1]
      T.ok(2 * (c - lost(l)) >= c, l.name .. " keeps " .. (c - lost(l)) .. " of " .. c)
    end
  end
end)

T.done()
