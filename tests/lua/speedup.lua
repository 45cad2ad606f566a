-- nm.speedup: rows for every conv/linear layer, measured times, the kept
-- fraction against a count done here, the simulated cycles against the
-- simulator's own reports (nm.sim systems run on the same model), skipped
-- reasons for layers without N:M, grouped and depthwise convs (one GEMM
-- per group), and bad options.
local T = require "nm.test"
local small_cnn = require("fixtures").small_cnn

-- Stored values per row / D along the kernel axis of a 3x3 conv: N per full
-- group of M, min(N, L) for the trailing group of L.
local function kept_kernel(n, m)
  local full, tail = 9 // m, 9 % m
  return (full * n + math.min(n, tail)) / 9
end

-- Cycles per layer name of system sys on model m.
local function cycles(sys, m)
  local out = {}
  for _, r in ipairs(sys:run(m).layers) do out[r.name] = r.cycles end
  return out
end

T.case("rows, times and ideals for every pattern", function()
  for _, nm_ in ipairs{{2, 4}, {1, 4}, {2, 8}, {4, 9}, {3, 9}} do
    local n, mm = nm_[1], nm_[2]
    local m <close> = small_cnn(1)
    nm.prune.nm(m, {n = n, m = mm})
    local rows, total = nm.speedup(m, {reps = 1, batch = 2})
    T.eq(#rows, 4, "conv1, conv2, conv3, fc")
    local by = {}
    for _, r in ipairs(rows) do by[r.name] = r end
    T.ok(by.conv1.skipped:find("no N:M mask"), by.conv1.skipped)
    T.ok(by.fc.skipped:find("no N:M mask"), by.fc.skipped)
    for _, name in ipairs{"conv2", "conv3"} do
      local r = by[name]
      T.ok(not r.skipped, r.skipped)
      T.eq(r.n, n); T.eq(r.m, mm); T.eq(r.axis, "kernel")
      T.eq(r.D, (name == "conv2" and 8 or 16) * 9)
      T.eq(r.rows, name == "conv2" and 16 or 12)
      T.eq(r.cols, 2 * (name == "conv2" and 144 or 36), "batch x output positions")
      T.near(r.kept, kept_kernel(n, mm), 1e-12)
      T.near(r.ideal, mm / n, 1e-12)
      T.near(r.ideal_kept, 1 / kept_kernel(n, mm), 1e-9)
      T.ok(r.dense_ms > 0 and r.nm_ms > 0)
      T.near(r.speedup, r.dense_ms / r.nm_ms, 1e-9)
      T.ok(r.exact, "within the rounding bound: " .. r.err_ratio)
    end
    T.eq(total.ran, 2); T.eq(total.skipped, 2); T.eq(total.layers, 4)
    T.near(total.dense_ms, by.conv2.dense_ms + by.conv3.dense_ms, 1e-9)
    -- the array columns: the simulator's own runs on the same model
    local pmac = nm.sim.system{mac = "pmac", rows = 32, cols = 32, batch = 2}
    local sides, systems = nm.sim.equal_area({{mac = "nm", d = {9, 9}, w = {n, mm}, batch = 2}},
      {budget = pmac})
    local cp, cn = cycles(pmac, m), cycles(systems[1], m)
    for _, name in ipairs{"conv2", "conv3"} do
      local r = by[name]
      T.eq(r.sim_side, sides[1])
      T.eq(r.sim_dense_cycles, cp[name], name .. " pMAC cycles")
      T.eq(r.sim_nm_cycles, cn[name], name .. " nm-MAC cycles")
      T.near(r.sim_speedup, cp[name] / cn[name], 1e-12)
    end
  end
end)

T.case("same-side arrays, a layer list, and a 1x1 conv along input channels", function()
  local m <close> = nm.model("pw", {16, 6, 6})
  m:add("conv", "c1", {out = 8, k = 1})
  m:add("conv", "c2", {out = 8, k = 1})
  m:add("conv", "c3", {out = 6, k = 1})
  m:init_weights(2)
  nm.prune.nm(m, {n = 1, m = 4, include_first = true, include_last = true})
  local rows, total = nm.speedup(m, {reps = 1, layers = {"c2"}, equal_area = false, array = 8,
    clock = "cpu"})
  T.eq(total.clock, "cpu"); T.eq(total.threads, 1)
  T.ok(rows[1].dense_ms > 0 and rows[1].nm_ms > 0 and rows[1].exact)
  T.eq(#rows, 1)
  T.eq(rows[1].name, "c2"); T.eq(rows[1].axis, "in"); T.eq(rows[1].kept, 0.25)
  T.eq(rows[1].sim_side, 8)
end)

T.case("a model without N:M masks says so", function()
  local m <close> = small_cnn(3)
  local rows, total = nm.speedup(m, {reps = 1})
  T.eq(#rows, 4)
  for _, r in ipairs(rows) do T.ok(r.skipped and r.skipped:find("no N:M mask"), r.name) end
  T.eq(total.ran, 0)
  T.ok(total.message:find("no layer"), total.message)
  T.eq(total.speedup, nil)
end)

T.case("grouped and depthwise convs run one GEMM per group", function()
  local g <close> = nm.model("grp", {8, 6, 6})
  g:add("conv", "g1", {out = 8, k = 3, pad = 1, groups = 2})
  g:add("dwconv", "dw", {k = 3, pad = 1})
  g:init_weights(1)
  nm.prune.nm(g, {n = 4, m = 9, include_first = true, include_last = true})
  local rows = nm.speedup(g, {reps = 1, batch = 3})
  T.eq(#rows, 2)
  T.ok(not rows[1].skipped, rows[1].skipped)
  T.eq(rows[1].groups, 2); T.eq(rows[1].rows, 8); T.eq(rows[1].D, 4 * 9)
  T.eq(rows[1].cols, 3 * 36); T.ok(rows[1].exact)
  T.ok(not rows[2].skipped, rows[2].skipped)
  T.eq(rows[2].groups, 8); T.eq(rows[2].rows, 8); T.eq(rows[2].D, 9)
  T.near(rows[2].kept, 4 / 9, 1e-12); T.ok(rows[2].exact)
  T.ok(rows[2].sim_speedup > 0)
end)

T.case("bad options raise naming them", function()
  local m <close> = small_cnn(1)
  T.raises(function() nm.speedup(m, {batch = 0}) end, "batch")
  T.raises(function() nm.speedup(m, {bogus = 1}) end, "unknown option 'bogus'")
  T.raises(function() nm.speedup(m, {isa = "neon"}) end, "isa")
  T.raises(function() nm.speedup(m, {clock = "sundial"}) end, "clock")
  T.raises(function() nm.speedup(m, {layers = 3}) end, "layers")
  -- a misspelt or non-string name is an error, not an empty selection
  T.raises(function() nm.speedup(m, {layers = {"conv2", "conv9"}}) end, "no layer named 'conv9' in small")
  T.raises(function() nm.speedup(m, {layers = {"conv2", 7}}) end, "[2] is a number, not a layer name")
  T.raises(function() nm.speedup("resnet18") end, "model")
end)

T.done()
