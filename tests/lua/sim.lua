-- nm.sim: systems, runs, reports, equal area, compare, stepper, trace and
-- energy tables. Expected numbers are worked out here from the formulas of
-- JOINTNF.md / ENERGY.md / SCALE-Sim, not taken from the simulator.
local T = require "nm.test"

local function ceil_div(a, b) return (a + b - 1) // b end

-- A small CNN (conv, grouped-free) for engine comparisons.
local function small_model()
  local m = nm.model("small", {3, 12, 12})
  m:add("conv", "conv1", {out = 8, k = 3, pad = 1})
  m:add("relu", "relu1")
  m:add("conv", "conv2", {out = 6, k = 3, stride = 2})
  m:add("relu", "relu2")
  m:add("flatten", "flat")
  m:add("linear", "fc", {out = 5})
  m:init_weights(7)
  return m
end

-- A tiny JSON reader (objects, arrays, strings without escapes beyond \",
-- numbers, true/false/null): enough to read a report back.
local function json_decode(s)
  local pos = 1
  local function ws() pos = s:find("[^ \t\r\n]", pos) or #s + 1 end
  local value
  local function str()
    local j = pos + 1
    local out = {}
    while true do
      local c = s:sub(j, j)
      if c == "" then error("unterminated string") end
      if c == '"' then break end
      if c == "\\" then out[#out + 1] = s:sub(j + 1, j + 1); j = j + 2
      else out[#out + 1] = c; j = j + 1 end
    end
    pos = j + 1
    return table.concat(out)
  end
  function value()
    ws()
    local c = s:sub(pos, pos)
    if c == "{" then
      local t = {}
      pos = pos + 1; ws()
      if s:sub(pos, pos) == "}" then pos = pos + 1; return t end
      while true do
        ws(); local k = str(); ws()
        assert(s:sub(pos, pos) == ":", "expected ':' at " .. pos); pos = pos + 1
        t[k] = value(); ws()
        local d = s:sub(pos, pos); pos = pos + 1
        if d == "}" then return t end
        assert(d == ",", "expected ',' at " .. pos)
      end
    elseif c == "[" then
      local t = {}
      pos = pos + 1; ws()
      if s:sub(pos, pos) == "]" then pos = pos + 1; return t end
      while true do
        t[#t + 1] = value(); ws()
        local d = s:sub(pos, pos); pos = pos + 1
        if d == "]" then return t end
        assert(d == ",", "expected ',' at " .. pos)
      end
    elseif c == '"' then return str()
    elseif s:find("^true", pos) then pos = pos + 4; return true
    elseif s:find("^false", pos) then pos = pos + 5; return false
    elseif s:find("^null", pos) then pos = pos + 4; return nil
    else
      local num = s:match("^-?%d+%.?%d*[eE]?[-+]?%d*", pos)
      assert(num and #num > 0, "bad JSON at " .. pos)
      pos = pos + #num
      return tonumber(num)
    end
  end
  local v = value(); ws()
  assert(pos > #s, "trailing text in JSON")
  return v
end

local function read_all(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

T.case("equal-area sides from the calibrated ratios", function()
  -- ENERGY.md: pMAC : bMAC : nm-4-4 : nm-6-4 = 1 : 2.56 : 4.00 : 4.55 cells.
  local pmac = nm.sim.system{mac = "pmac", rows = 32, cols = 32}
  local cell = pmac:area().pe
  T.near(pmac:area().array, 1024 * cell, 1e-6)
  local ratios = {bmac = 2.56, ["nm-4-4"] = 4.00, ["nm-6-4"] = 4.55}
  local specs = {"bmac", "nm-4-4", "nm-6-4"}
  local sides, systems = nm.sim.equal_area(specs)
  for i, name in ipairs(specs) do
    -- largest n with n*n*ratio <= 1024 (with a rounding guard)
    local n = 0
    while (n + 1) * (n + 1) * ratios[name] <= 1024 * (1 + 1e-9) do n = n + 1 end
    T.eq(sides[i], n, name)
    T.eq(systems[i]:config().rows, n)
    T.eq(systems[i]:config().cols, n)
    T.near(systems[i]:area().pe / cell, ratios[name], 1e-9, name)
  end
  T.eq(sides, {20, 16, 15})
  -- the same from an explicit budget (number or system)
  T.eq((nm.sim.equal_area(specs, {budget = 1024 * cell})), {20, 16, 15})
  T.eq((nm.sim.equal_area(specs, {budget = pmac})), {20, 16, 15})
  -- a smaller budget: 16x16 pMAC -> 256 cells: bMAC 10 (10*10*2.56 = 256), nm-4-4 8
  T.eq((nm.sim.equal_area({"bmac", {mac = "nm", d = {4, 9}, w = {4, 9}}},
        {budget = nm.sim.system{mac = "pmac", rows = 16}})), {10, 8})
end)

T.case("SCALE-Sim compat cycles of resnet18.csv layers", function()
  local shared = os.getenv("NMLAB_SHARED")
  if not shared then T.skip("NMLAB_SHARED unset: ../shared/data/scalesim is not beside the source tree") end
  local path = shared .. "/data/scalesim/resnet18.csv"
  local m = assert(nm.load(path))
  -- parse the CSV ourselves: name, H, W, R, S, C, M, stride
  local rows = {}
  for line in io.lines(path) do
    local f = {}
    for x in line:gmatch("([^,]*),") do f[#f + 1] = x:match("^%s*(.-)%s*$") end
    if tonumber(f[2]) then rows[#rows + 1] = f end
  end
  local R, C = 32, 32
  local sys = nm.sim.system{mac = "pmac", rows = R, cols = C, compat = "scalesim"}
  local rep = sys:run(m)
  T.eq(#rep.layers, #rows)
  for _, i in ipairs({1, 2, #rows}) do
    local f = rows[i]
    local H, W, r, s, ch, nf, st = tonumber(f[2]), tonumber(f[3]), tonumber(f[4]),
      tonumber(f[5]), tonumber(f[6]), tonumber(f[7]), tonumber(f[8])
    -- SCALE-Sim: ofmap = ceil((H - R + stride) / stride); WS maps K x Nf
    -- spatially and streams E; each fold: R (fill) + R + C + E - 2; total - 1.
    local E = ceil_div(H - r + st, st) * ceil_div(W - s + st, st)
    local K = r * s * ch
    local folds = ceil_div(K, R) * ceil_div(nf, C)
    local expect = folds * (R + R + C + E - 2) - 1
    local l = rep.layers[i]
    T.eq(l.name, f[1])
    T.eq(l.E, E, f[1] .. " E")
    T.eq(l.K, K, f[1] .. " K")
    T.eq(l.folds, folds, f[1] .. " folds")
    T.eq(l.cycles, expect, f[1] .. " cycles")
  end
  -- one layer on its own gives the same
  T.eq(sys:run(m:layer(2)).total.cycles, rep.layers[2].cycles)
end)

T.case("analytic and stepped engines agree", function()
  local m = small_model()
  local specs = {
    {mac = "pmac", rows = 4, cols = 3},
    {mac = "pmac", rows = 5, cols = 4, dataflow = "os"},
    {mac = "pmac", rows = 3, cols = 5, dataflow = "is"},
    {mac = "bmac", rows = 4, cols = 4},
    {mac = "nm", d = {2, 4}, w = {2, 4}, rows = 4, cols = 3},
    {mac = "nm-4-4", rows = 3, cols = 3, dataflow = "os"},
  }
  for _, spec in ipairs(specs) do
    local sys = nm.sim.system(spec)
    local a = sys:run(m)
    local s = sys:run(m, {engine = "stepped"})
    T.eq(a.engine, "analytic"); T.eq(s.engine, "stepped")
    T.eq(#a.layers, 3)
    for i = 1, #a.layers do
      T.eq(s.layers[i].cycles, a.layers[i].cycles, tostring(sys) .. " " .. a.layers[i].name)
      T.eq(s.layers[i].pe_busy, a.layers[i].pe_busy)
    end
    T.eq(s.total.cycles, a.total.cycles)
  end
end)

T.case("report fields are consistent", function()
  local sys = nm.sim.system{mac = "nm", d = {4, 9}, w = {4, 9}, rows = 8, dram = true,
                            leakage = true}
  local r = sys:run(small_model())
  T.eq(r.model, "small")
  T.eq(r.system, tostring(sys))
  T.ok(r.system:find("dram=1", 1, true) and r.system:find("leakage=1", 1, true))
  local comps = {"mult", "add", "select", "reg", "sram_w", "sram_d", "sram_o", "acc", "sfu",
                 "dram", "leak"}
  local sum_cycles, sum_e = 0, 0
  for _, l in ipairs(r.layers) do
    sum_cycles = sum_cycles + l.cycles
    sum_e = sum_e + l.energy.total
    local parts = 0
    for _, c in ipairs(comps) do parts = parts + l.energy[c] end
    T.near(parts, l.energy.total, 1e-9 * l.energy.total, l.name .. " energy parts")
    T.ok(l.util > 0 and l.util <= 1, "util in (0,1]")
    -- data N:M only where a ReLU (turned NMReLU by the SFU) feeds the
    -- layer: conv1 reads the model input, stored dense with no index
    T.eq(l.act_applied, l.name ~= "conv1", l.name)
    T.ok(l.bytes.w_val > 0 and (l.bytes.d_idx > 0) == l.act_applied)
    T.near(l.bytes.out, l.bytes.out_val + l.bytes.out_idx, 1e-9)
    -- products at 4:9 x 4:9 declared density of the effective MACs
    T.near(l.products, l.eff_macs, 1e-6)
  end
  T.eq(r.total.cycles, sum_cycles)
  T.near(r.total.energy.total, sum_e, 1e-9 * sum_e)
  local parts = 0
  for _, c in ipairs(comps) do parts = parts + r.total.energy[c] end
  T.near(parts, r.total.energy.total, 1e-9 * parts)
  T.ok(r.total.energy.dram > 0 and r.total.energy.leak > 0)
  local a = r.area
  T.near(a.total, a.array + a.acc + a.sfu + a.sram, 1e-6)
  T.near(a.array, 64 * a.pe, 1e-6)
  T.eq(sys:area(), a)
  T.ok(tostring(r):find("switches: mac=nm-4:9-4:9", 1, true))
end)

T.case("csv and json written and readable; unwritable path", function()
  local sys = nm.sim.system{mac = "pmac", rows = 4}
  local r = sys:run(small_model())
  local base = os.tmpname()
  T.eq(r:csv(base .. ".csv"), true)
  T.eq(r:json(base .. ".json"), true)
  local csv = read_all(base .. ".csv")
  T.ok(csv:match("^# [^\n]*mac=pmac array=4x4"), "first line states the switches")
  local header = csv:match("\n([^#][^\n]*)")
  T.ok(header:find("cycles", 1, true), "csv header names cycles: " .. header)
  local lines = 0
  for _ in csv:gmatch("\n") do lines = lines + 1 end
  T.ok(lines >= 1 + #r.layers, "a csv row per layer")
  local j = json_decode(read_all(base .. ".json"))
  T.eq(j.model, "small")
  T.eq(#j.layers, #r.layers)
  T.eq(j.total.cycles, r.total.cycles)
  T.eq(j.layers[2].cycles, r.layers[2].cycles)
  os.remove(base .. ".csv"); os.remove(base .. ".json"); os.remove(base)
  local ok, msg = r:csv("/nonexistent-dir/x/report.csv")
  T.eq(ok, nil)
  T.ok(type(msg) == "string" and msg:find("nonexistent-dir", 1, true), msg)
  ok, msg = r:json("/nonexistent-dir/x/report.json")
  T.eq(ok, nil)
  T.ok(msg:find("report.json", 1, true), msg)
end)

T.case("bad arguments raise naming the argument", function()
  T.raises(function() nm.sim.system{mac = "nm", d = {5, 4}, w = {4, 9}} end, "d: 5:4 is impossible")
  T.raises(function() nm.sim.system{mac = "nm", d = {4, 9}, w = {0, 9}} end, "w: 0:9 is impossible")
  T.raises(function() nm.sim.system{mac = "nm", w = {4}} end, "w: must be {N, M}")
  T.raises(function() nm.sim.system{mac = "xmac"} end, "mac: unknown MAC 'xmac'")
  T.raises(function() nm.sim.system{rows = 4} end, "mac: missing")
  T.raises(function() nm.sim.system{mac = "pmac", rows = 0} end, "rows: 0 out of range")
  T.raises(function() nm.sim.system{mac = "pmac", dataflow = "xs"} end, "dataflow: 'xs'")
  T.raises(function() nm.sim.system{mac = "pmac", rowz = 4} end, "unknown option 'rowz'")
  T.raises(function() nm.sim.system{mac = "nm-4-4", compat = "scalesim"} end, "pMAC arrays only")
  T.raises(function() nm.sim.system{mac = "pmac", w = {1, 2}} end, "w: a pMAC is dense")
  T.raises(function() nm.sim.system{mac = "pmac", energy = {mul8_pj = "x"}} end, "energy: 'mul8_pj'")
  T.raises(function() nm.sim.system{mac = "pmac", energy = {nope = 1}} end, "energy: unknown key 'nope'")
  T.raises(function() nm.sim.system{mac = "pmac", node = 7} end, "node: no Stillmaker")
  local sys = nm.sim.system{mac = "pmac"}
  T.raises(function() sys:run(42) end, "bad argument #1 to 'run'")
  T.raises(function() sys:run({E = 4, K = 0, Nf = 2}) end, "K: must be a positive integer")
  T.raises(function() sys:run({E = 4, K = 4, Nf = 2}, {engine = "fast"}) end, "engine: 'fast'")
  T.raises(function() sys:run({E = 4, K = 4, Nf = 2}, {activation_density = 2}) end,
    "activation_density: must be a number in 0..1")
  T.raises(function() sys:run({E = 4, K = 4, Nf = 2}, {input = nm.tensor({3, 4})}) end,
    "activations must be [E=4, K'=4]")
  T.raises(function() sys:stepper(small_model()) end, "not a whole model")
  T.raises(function() nm.sim.equal_area({"bmac"}, {budget = -1}) end, "budget: must be")
  T.raises(function() nm.sim.nmmac_trace{d = {2, 4}, w = {2, 4}, data = {1, 2}, weights = {1, 0, 0, 0}} end,
    "data: needs")
  T.raises(function() nm.sim.nmmac_trace{d = {2, 4}, w = {1, 4}, data = {{1,0,0,0},{0,0,0,0},{0,0,0,0},{0,0,0,0}},
    weights = {1, 1, 0, 0}} end, "weights: 2 nonzeros, more than #F = 1")
  T.raises(function() nm.sim.compare({}, {small_model()}) end, "no systems")
  local ok, msg = nm.sim.energy_table("/nonexistent-dir/energy.json")
  T.eq(ok, nil)
  T.ok(msg:find("energy.json", 1, true), msg)
end)

-- nm.sim reads booleans loosely (nmlua_opt_bool with NMLUA_LOOSE): the
-- integers 0 and 1 count, other numbers (1.0 too) and strings do not.
T.case("option types: 0 and 1 are booleans", function()
  T.eq(nm.sim.system{mac = "pmac", dram = 1}:config().dram, true)
  T.eq(nm.sim.system{mac = "pmac", dram = 0}:config().dram, false)
  T.eq(nm.sim.system{mac = "pmac", leakage = true}:config().leakage, true)
  T.eq(nm.sim.system{mac = "pmac"}:config().dram, false)
  T.raises(function() nm.sim.system{mac = "pmac", dram = 2} end,
    "bad argument #1 to 'system' (dram: must be a boolean)")
  T.raises(function() nm.sim.system{mac = "pmac", dram = 1.0} end, "dram: must be a boolean")
  T.raises(function() nm.sim.system{mac = "pmac", leakage = "true"} end, "leakage: must be a boolean")
  -- unknown keys (nmsim_check_keys): a non-string key is named by its type
  T.raises(function() nm.sim.system{mac = "pmac", [1] = 4} end,
    "bad argument #1 to 'system' (unknown option 'number')")
  local sys = nm.sim.system{mac = "pmac"}
  T.raises(function() sys:run({E = 4, K = 4, Nf = 2}, {engin = "stepped"}) end,
    "bad argument #2 to 'run' (unknown option 'engin')")
  T.raises(function() sys:run({E = 4, K = 4, Nf = 2}, {[2] = 1}) end, "(unknown option 'number')")
end)

T.case("measured rounds from activations (analytic WS nm)", function()
  -- nm 2:4 x 2:4 on a 2x2 array, GEMM E=4 K=4 Nf=1, dense weights: each
  -- slice needs ceil(4/2) = 2 PEs (split), so Sr = 2, Sc = 1, T = 1 block x
  -- rounds; fold = R (load) + R + C + T - 2 = 4 + T.
  local g = {E = 4, K = 4, Nf = 1, name = "g"}
  local gated = nm.sim.system{mac = "nm", d = {2, 4}, w = {2, 4}, rows = 2, cols = 2}
  local skipped = nm.sim.system{mac = "nm", d = {2, 4}, w = {2, 4}, rows = 2, cols = 2,
                                idle = "skipped"}
  T.eq(gated:run(g).total.cycles, 4 + 2)
  local zeros = nm.tensor({4, 4}, 0)
  T.eq(gated:run(g, {input = zeros}).total.cycles, 4 + 2)     -- gated keeps #D rounds
  T.eq(skipped:run(g, {input = zeros}).total.cycles, 4 + 1)   -- skipped: at least 1
  local x = nm.tensor({4, 4}, 0)
  x:set(1, 2, 1); x:set(2, 2, 1); x:set(4, 2, 1)               -- column 2: 3 nonzeros > #D
  local r = gated:run(g, {input = x})
  T.eq(r.total.cycles, 4 + 3)
  T.eq(r.total.violations, 1)
  T.eq(r.total.blocks, 1)
  -- a whole model takes input = {layer = tensor}; products count nonzeros
  local m = nm.model("one", {4, 1, 1})
  m:add("linear", "fc", {out = 1})
  m:init_weights(1)
  local rm = gated:run(m, {input = {fc = nm.tensor({1, 4}, 1)}})
  T.eq(rm.total.violations, 0)          -- one position: each column holds 1 nonzero
  T.eq(rm.total.cycles, 4 + 2)
end)

T.case("progress callback per layer", function()
  local sys = nm.sim.system{mac = "pmac", rows = 4}
  local seen = {}
  sys:run(small_model(), {progress = function(f, name) seen[#seen + 1] = {f, name} end})
  T.eq(#seen, 3)
  T.eq(seen[3][1], 1.0)
  T.eq(seen[1][2], "conv1"); T.eq(seen[3][2], "fc")
  T.ok(seen[1][1] < seen[2][1] and seen[2][1] < seen[3][1])
  T.raises(function()
    sys:run(small_model(), {progress = function() error("stop here") end})
  end, "stop here")
  -- a callback freeing the model stops the run cleanly (the model is in
  -- use until the run ends; inuse.lua has more)
  local m = small_model()
  T.raises(function() sys:run(m, {progress = function() m:free() end}) end,
    "model:free: model is in use by sys:run")
  T.eq(#m, #small_model())
end)

T.case("activation density scales products and multiply energy", function()
  local sys = nm.sim.system{mac = "pmac", rows = 4}
  local g = {E = 10, K = 8, Nf = 6}
  local full = sys:run(g)
  local half = sys:run(g, {activation_density = 0.5})
  T.eq(half.total.cycles, full.total.cycles)
  T.near(full.total.products, 10 * 8 * 6, 1e-9)
  T.near(half.total.products, 10 * 8 * 6 * 0.5, 1e-9)
  T.ok(half.total.energy.mult < full.total.energy.mult)
end)

T.case("assume: declared pruning shape without touching weights", function()
  local m = small_model()   -- conv1 8 filters over 3 channels; conv2 6 over 8; fc 150 -> 5
  local sys = nm.sim.system{mac = "nm", d = {4, 9}, w = {4, 9}, rows = 4}
  local r = sys:run(m, {assume = {w = {4, 9}, filters = 0.25}})
  T.ok(r.assumed:find("4:9", 1, true) and r.assumed:find("25%", 1, true), r.assumed)
  local c1, c2, fc = r.layers[1], r.layers[2], r.layers[3]
  T.eq(c1.Nf, 8 - 2); T.eq(c1.Kp, 3 * 9)            -- reads the model input: K' kept
  T.eq(c2.Nf, 6 - 1); T.eq(c2.Kp, (8 - 2) * 9)      -- floor(0.25*6) = 1, floor(0.25*8) = 2
  T.eq(fc.Nf, 5 - 1); T.eq(fc.K, 6 * 5 * 5); T.eq(fc.Kp, 150 - 37)  -- conv2: 5x5 out
  -- declared 4:9 fits the MAC's 4 multipliers: one PE per 9-wide slice, so
  -- WS rows = ceil(K'/9) per layer; without it, dense slices need ceil(9/4) = 3
  local d = sys:run(m)
  T.eq(d.layers[2].Kp, 8 * 9)
  -- utilization and products follow the declared density: products = E*K'*Nf*(4/9)^2
  T.near(c2.products, c2.E * c2.Kp * c2.Nf * (4 / 9) * (4 / 9), 1e-6)
  T.ok(r.total.cycles < d.total.cycles)
  T.raises(function() sys:run(m, {assume = {filters = 1.5}}) end, "filters must be a share")
end)

T.case("compare rows and ratios", function()
  local m = small_model()
  local s1 = nm.sim.system{mac = "pmac", rows = 8}
  local s2 = nm.sim.system{mac = "nm-4-4", rows = 4}
  local rows = nm.sim.compare({s1, s2}, {m, {E = 50, K = 27, Nf = 9, name = "g"}})
  T.eq(#rows, 4)
  local r1, r2 = s1:run(m), s2:run(m)
  T.eq(rows[1].model, "small"); T.eq(rows[3].model, "g")
  T.eq(rows[1].cycles, r1.total.cycles); T.eq(rows[2].cycles, r2.total.cycles)
  T.near(rows[1].speedup, 1); T.near(rows[1].energy_ratio, 1)
  T.near(rows[2].speedup, r1.total.cycles / r2.total.cycles, 1e-12)
  T.near(rows[2].energy_ratio, r2.total.energy.total / r1.total.energy.total, 1e-12)
  T.eq(rows[2].switches, tostring(s2))
  local text = tostring(rows)
  T.eq(text, nm.sim.format_compare(rows))
  T.ok(text:find(tostring(s1), 1, true) and text:find(tostring(s2), 1, true), "switches stated")
end)

T.case("stepper finishes in exactly the report's cycles", function()
  for _, spec in ipairs({
    {mac = "pmac", rows = 4, cols = 3},
    {mac = "nm", d = {2, 4}, w = {2, 4}, rows = 3, cols = 3, dataflow = "is"},
  }) do
    local sys = nm.sim.system(spec)
    local m = small_model()
    local layer = m:layer("conv2")
    local want = sys:run(layer).total.cycles
    local st <close> = sys:stepper(layer)
    T.eq(st:cycle(), 0)
    T.eq(st:phase(), spec.dataflow == "os" and "stream" or "load")
    local grid = st:state()
    T.eq(#grid, spec.rows); T.eq(#grid[1], spec.cols)
    local n, streamed = 0, false
    while st:step() do
      n = n + 1
      if st:phase() == "stream" then
        for _, row in ipairs(st:state()) do
          for _, v in ipairs(row) do streamed = streamed or v >= 0 end
        end
      end
    end
    T.eq(n, want)
    T.eq(st:cycle(), want)
    T.eq(st:fold(), st:folds())
    T.eq(st:errors(), 0)
    T.ok(streamed, "some PE held an item")
    T.eq(st:step(), false)
    st:free()
    T.raises(function() st:cycle() end, "stepper has been freed")
  end
  -- step(n) moves n cycles
  local st = nm.sim.system{mac = "pmac", rows = 2}:stepper{E = 5, K = 2, Nf = 2}
  T.eq(st:step(3), true)
  T.eq(st:cycle(), 3)
end)

T.case("nm-MAC trace of the 2:4 example and of given data", function()
  local text, out = nm.sim.nmmac_trace()
  -- the built-in block and weights (sim's example): out = block * w
  local block = {{3, 0, 1, 0}, {0, 2, 0, 4}, {5, 0, 0, 6}, {0, 7, 8, 0}}
  local w = {0, 2, 0, -1}
  local want = {}
  for r = 1, 4 do
    local s = 0
    for c = 1, 4 do s = s + block[r][c] * w[c] end
    want[r] = s
  end
  T.eq(out, want)
  T.ok(text:find("\nround 0:", 1, true) and text:find("\nround 1:", 1, true), "2 rounds")
  T.ok(not text:find("\nround 2:", 1, true), "only 2 rounds")
  -- given data, flat: 2 rounds again (each column at most 2 nonzeros)
  local data = {1, 0, 2, 0,
                0, 3, 0, 0,
                4, 0, 0, 5,
                0, 6, 7, 0}
  local wt = {1, 0, 0, 2}
  local t2, o2 = nm.sim.nmmac_trace{d = {2, 4}, w = {2, 4}, data = data, weights = wt}
  T.eq(o2, {1, 0, 4 + 10, 0})
  T.ok(t2:find("\nround 1:", 1, true) and not t2:find("\nround 2:", 1, true))
  -- a column with 3 nonzeros needs 3 rounds
  local t3 = nm.sim.nmmac_trace{d = {2, 4}, w = {2, 4}, weights = wt,
    data = {{1, 0, 0, 0}, {1, 0, 0, 0}, {1, 0, 0, 0}, {0, 0, 0, 0}}}
  T.ok(t3:find("\nround 2:", 1, true), "3 rounds")
end)

T.case("energy tables and node scaling", function()
  local et = nm.sim.energy_table()
  -- ENERGY.md defaults at 45 nm
  T.eq(et.node_nm, 45)
  T.near(et.mul8_pj, 0.2)
  T.near(et.dram_pj_per_bit, 8)
  local e16 = nm.sim.scale_energy(et, 16)
  T.eq(e16.node_nm, 16)
  T.near(e16.mul8_pj, 0.2 * 0.174, 1e-12)           -- Stillmaker & Baas 45 -> 16
  T.near(e16.mul8_um2, et.mul8_um2 * 0.19, 1e-9)
  T.raises(function() nm.sim.scale_energy(et, 7) end, "no Stillmaker")
  -- a system from a table and from a JSON file agree
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write('{"mul8_pj": 0.4}')
  f:close()
  local loaded = assert(nm.sim.energy_table(path))
  T.near(loaded.mul8_pj, 0.4)
  T.near(loaded.add_acc_pj, et.add_acc_pj)
  local g = {E = 6, K = 5, Nf = 4}
  local a = nm.sim.system{mac = "pmac", rows = 4, energy = path}:run(g)
  local b = nm.sim.system{mac = "pmac", rows = 4, energy = {mul8_pj = 0.4}}:run(g)
  local c = nm.sim.system{mac = "pmac", rows = 4}:run(g)
  T.near(a.total.energy.mult, b.total.energy.mult, 1e-12)
  -- multiply energy = products x mul8_pj + idle slots x idle_mul_pj
  T.near(a.total.energy.mult - c.total.energy.mult, c.total.products * (0.4 - 0.2), 1e-9)
  os.remove(path)
  local s16 = nm.sim.system{mac = "pmac", node = 16}
  T.eq(s16:config().node, 16)
  T.near(s16:config().energy.mul8_pj, 0.2 * 0.174, 1e-12)
end)

T.done()
