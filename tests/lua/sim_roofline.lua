-- nm.plot.roofline (issue 16): the PNG is written, and the data it draws
-- (intensity, attained MACs per cycle, which layers are memory-bound)
-- equals an independent computation from the layers' shapes by the
-- memory model's rules (sim/README.md): compute cycles from the folds,
-- DRAM words = feature map + weights + outputs (all fit the SRAMs), a
-- layer memory-bound when words / bandwidth > compute cycles.
local T = require "nm.test"

local function ceil_div(a, b) return (a + b - 1) // b end

-- input 3x8x8; c1: 4 filters 3x3 -> 4x6x6; c2: 8 filters 1x1 -> 8x6x6; fc 10
local m = nm.model("roof", {3, 8, 8})
m:add("conv", "c1", {out = 4, k = 3})
m:add("relu", "r1")
m:add("conv", "c2", {out = 8, k = 1})
m:add("relu", "r2")
m:add("flatten", "flat")
m:add("linear", "fc", {out = 10})
m:init_weights(1)
-- {E, K, Nf, input feature map words}, worked out from the shapes above
local shapes = {
  {name = "c1", E = 36, K = 27, Nf = 4, ifmap = 3 * 8 * 8},
  {name = "c2", E = 36, K = 4, Nf = 8, ifmap = 4 * 6 * 6},
  {name = "fc", E = 1, K = 288, Nf = 10, ifmap = 288},
}
local R, C, BW = 4, 4, 2

-- WS on R x C: folds ceil(K/R) x ceil(Nf/C), each R + R + C + E - 2 cycles
local function expected(s, bw)
  local cc = ceil_div(s.K, R) * ceil_div(s.Nf, C) * (2 * R + C + s.E - 2)
  local words = s.ifmap + s.K * s.Nf + s.E * s.Nf
  local mem = words / bw
  local cycles = cc + math.max(0, math.ceil(mem - cc - 1e-9))
  local macs = s.E * s.K * s.Nf
  return {bound = mem > cc and "memory" or "compute", intensity = macs / words,
          perf = macs / cycles, cc = cc}
end

local sys = nm.sim.system{mac = "pmac", rows = R, cols = C,
                          sram_kb = {ifmap = 64, filter = 64, ofmap = 64}, bandwidth = BW}
local r = sys:run(m)

T.case("the report's roof: peak R x C MACs per cycle, the bandwidth", function()
  T.eq(r.roof.peak, R * C)
  T.eq(r.roof.bandwidth, BW)
  local calc = nm.sim.system{mac = "pmac", rows = R, cols = C,
                             sram_kb = {ifmap = 64, filter = 64, ofmap = 64}}:run(m)
  T.eq(calc.roof.bandwidth, nil)
  -- nm-4-4 (4:9 data, 4:9 weights): a PE covers 9 x 9 dense MACs in 4 cycles
  T.eq(nm.sim.system{mac = "nm-4-4", rows = 2}:run({E = 9, K = 9, Nf = 1}).roof.peak, 4 * 81 / 4)
end)

T.case("plot data: bounds, intensities, performance by hand", function()
  local out = os.tmpname()
  local p, d = nm.plot.roofline(r, {out = out, dpi = 300, title = "roof"})
  T.ok(p, d)
  local f = assert(io.open(out, "rb"))
  T.eq(f:read(8), "\137PNG\r\n\26\n")
  f:close()
  os.remove(out)
  T.eq(d.peak, R * C)
  T.eq(d.bandwidth, BW)
  T.eq(#d.layers, #shapes)
  local n_mem = 0
  for i, s in ipairs(shapes) do
    local e, l = expected(s, BW), d.layers[i]
    T.eq(l.name, s.name)
    T.eq(l.bound, e.bound, s.name)
    T.near(l.intensity, e.intensity, 1e-9, s.name)
    T.near(l.perf, e.perf, 1e-9, s.name)
    T.eq(r.layers[i].compute_cycles, e.cc, s.name)
    if e.bound == "memory" then n_mem = n_mem + 1 end
  end
  -- c1: 444 words / 2 = 222 < 322; c2: 464 / 2 = 232 > 92; fc 1589 < 2376
  T.eq(n_mem, 1)
  T.eq(d.layers[2].bound, "memory")
  -- a memory-bound layer sits on the bandwidth slope: perf = intensity x bw
  T.near(d.layers[2].perf, d.layers[2].intensity * BW, 1e-9)
  -- more bandwidth: nothing memory-bound
  local fast = nm.sim.system{mac = "pmac", rows = R, cols = C,
                             sram_kb = {ifmap = 64, filter = 64, ofmap = 64}, bandwidth = 8}
  local _, d8 = nm.plot.roofline(fast:run(m))
  for i, s in ipairs(shapes) do T.eq(d8.layers[i].bound, expected(s, 8).bound, s.name) end
  for _, l in ipairs(d8.layers) do T.eq(l.bound, "compute") end
end)

T.case("options and mistakes", function()
  local p, d = nm.plot.roofline(r, {peak = 100, bandwidth = 0, labels = true, size = "column"})
  T.eq(d.peak, 100)
  T.eq(d.bandwidth, 0)
  T.eq(p:info().dpi, 300)
  local ok, msg = select(2, pcall(nm.plot.roofline, r, {out = "/no/such/dir/x.png"}))
  T.eq(ok, nil)
  T.ok(msg:find("/no/such/dir", 1, true), msg)
  T.raises(function() nm.plot.roofline({layers = {}}) end, "no compute roof")
  T.raises(function() nm.plot.roofline({roof = {peak = 1}, layers = {}}) end, "layers is empty")
  T.raises(function()
    nm.plot.roofline({roof = {peak = 1}, layers = {{name = "x", dense_macs = 1, cycles = 1,
                                                    roofline = {intensity = 1, bound = "cpu"}}}})
  end, "bound must be")
  T.raises(function()
    nm.plot.roofline({roof = {peak = 1}, layers = {{name = "x", dense_macs = 0 / 0, cycles = 1}}})
  end, "dense_macs is NaN")
  T.raises(function() nm.plot.roofline(r, {bandwidth = -1}) end, "bandwidth")
end)

T.done()
