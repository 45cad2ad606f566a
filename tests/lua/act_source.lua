-- Data (activation) N:M only where it exists: model:stats{act=}, nm.storage
-- and sys:run say per row whether it applied (act_applied) and use it only
-- there. Expected figures are worked out here from the section 5 formula.
local T = require "nm.test"

-- input (4, 6, 6) -> c1 3x3 pad 1 (8) -> relu -> pool 2 -> c2 3x3 pad 1 (8)
-- -> gelu -> c3 1x1 (8) -> nmrelu 2:4 -> gap -> flatten -> fc (5)
local function model()
  local m = nm.model("act", {4, 6, 6})
  m:add("conv", "c1", {out = 8, k = 3, pad = 1})
  m:add("relu", "relu")
  m:add("maxpool", "pool", {k = 2})
  m:add("conv", "c2", {out = 8, k = 3, pad = 1})
  m:add("gelu", "gelu")
  m:add("conv", "c3", {out = 8, k = 1})
  m:add("relu", "r3")
  m:add("gap", "gap")
  m:add("flatten", "flat")
  m:add("linear", "fc", {out = 5})
  m:init_weights(2)
  m:set_activation("r3", {n = 2, m = 4})
  return m
end

local function rows_by_name(rows)
  local t = {}
  for _, r in ipairs(rows) do t[r.name] = r end
  return t
end

T.case("stats: eff_macs take data N:M only after an NMReLU or a ReLU the option turns", function()
  local m = model()
  local dense = {c1 = 36 * 8 * 36, c2 = 9 * 8 * 72, c3 = 9 * 8 * 8, fc = 5 * 8}
  -- no option: only the NMReLU's own 2:4 (fc, through gap and flatten)
  local r = rows_by_name(m:stats())
  T.eq(r.c1.act_applied, false); T.eq(r.c1.act_from, "input")
  T.eq(r.c2.act_applied, false); T.eq(r.c2.act_from, "relu")
  T.eq(r.c3.act_applied, false); T.eq(r.c3.act_from, "other")
  T.ok(r.c3.act_why:find("gelu", 1, true), r.c3.act_why)
  T.eq(r.fc.act_applied, true); T.eq(r.fc.act_from, "nmrelu")
  T.eq(r.fc.act_n, 2); T.eq(r.fc.act_m, 4)
  T.near(r.c1.eff_macs, dense.c1); T.near(r.c2.eff_macs, dense.c2)
  T.near(r.fc.eff_macs, dense.fc * 2 / 4)
  -- weightless rows say so too
  T.eq(r.relu.act_applied, false); T.eq(r.gelu.act_applied, false)
  -- act 4:9: the ReLU before c2 becomes NMReLU 4:9; c1 (the image) and c3
  -- (after GELU) stay dense; fc keeps its NMReLU's 2:4
  r = rows_by_name(m:stats({act = {n = 4, m = 9}}))
  T.eq(r.c1.act_applied, false); T.near(r.c1.eff_macs, dense.c1)
  T.eq(r.c2.act_applied, true); T.near(r.c2.eff_macs, dense.c2 * 4 / 9)
  T.eq(r.c3.act_applied, false); T.near(r.c3.eff_macs, dense.c3)
  T.eq(r.fc.act_applied, true); T.near(r.fc.eff_macs, dense.fc * 2 / 4)
  -- declared by the user: every layer with MACs (the old assumption)
  r = rows_by_name(m:stats({act = {n = 4, m = 9, declare = true}}))
  T.eq(r.c1.act_applied, true); T.near(r.c1.eff_macs, dense.c1 * 4 / 9)
  T.eq(r.c3.act_applied, true); T.near(r.c3.eff_macs, dense.c3 * 4 / 9)
  T.ok(r.c3.act_why:find("declared", 1, true), r.c3.act_why)
  T.eq(r.gelu.act_applied, false)
  -- one layer
  local l = m:layer("c2"):stats({act = {n = 4, m = 9}})
  T.eq(l.act_applied, true); T.near(l.eff_macs, dense.c2 * 4 / 9)
  T.eq(m:layer("c1"):stats({act = {n = 4, m = 9}}).act_applied, false)
  T.raises(function() m:stats({act = {n = 4, m = 9, declar = true}}) end, "declar")
end)

T.case("storage: activations compressed only where data N:M applies", function()
  local m = model()
  local s = nm.storage(m, {act = {n = 4, m = 9}})
  local a = s.act
  T.eq(a.n, 4); T.eq(a.m, 9)
  local r = rows_by_name(a.layers)
  T.eq(#a.layers, 4)
  T.eq(a.applied_layers, 2)
  -- c1 reads the image: 4*6*6 values at 8 bits, no index
  T.eq(r.c1.act_applied, false); T.eq(r.c1.values, 144)
  T.eq(r.c1.bits.simple, 8 * 144); T.eq(r.c1.bits.combinatorial, 8 * 144)
  -- c2 reads the ReLU made NMReLU 4:9, through the pool: 8 channels of a
  -- 3x3 plane, one group of 9 each: 4 values (32 bits) + 4 x 4 index bits
  -- (simple), 9 (bitmask), ceil(log2 C(9,4) = 126) = 7 (combinatorial)
  T.eq(r.c2.act_applied, true); T.eq(r.c2.values, 72)
  T.eq(r.c2.bits.simple, 8 * (32 + 16)); T.eq(r.c2.bits.bitmask, 8 * (32 + 9))
  T.eq(r.c2.bits.combinatorial, 8 * (32 + 7))
  T.eq(r.c3.act_applied, false); T.eq(r.c3.bits.simple, 8 * 72)
  -- fc reads the NMReLU 2:4 through gap and flatten: 8 values of a 1x1
  -- plane, one (partial) group of 4 per channel: 2 values + 2 x 2 bits
  T.eq(r.fc.act_applied, true); T.eq(r.fc.n, 2); T.eq(r.fc.m, 4)
  T.eq(r.fc.bits.simple, 8 * (16 + 4))
  T.eq(a.values, 144 + 72 + 72 + 8)
  T.eq(a.dense_bits, 8 * a.values)
  T.eq(a.stored_bits.simple, 8 * 144 + 8 * 48 + 8 * 72 + 8 * 20)
  -- one layer
  local one = nm.storage(m:layer("c1"), {act = {n = 4, m = 9}})
  T.eq(one.act.applied_layers, 0); T.eq(#one.act.layers, 1)
end)

T.case("sim: act_applied per row; system act = 'all' declares it everywhere", function()
  local m = model()
  local sys = nm.sim.system{mac = "nm", d = {4, 9}, w = {4, 9}, rows = 16}
  T.eq(sys:config().act, "auto")
  T.ok(tostring(sys):find("act=auto", 1, true))
  local r = sys:run(m)
  local want = {c1 = false, c2 = true, c3 = false, fc = true}
  for _, l in ipairs(r.layers) do
    T.eq(l.act_applied, want[l.name], l.name)
    if not l.act_applied then
      T.eq(l.bytes.d_idx, 0, l.name)
      T.near(l.eff_macs, l.dense_macs, 1e-9, l.name)   -- dense weights, dense data
    else
      T.near(l.eff_macs, l.dense_macs * 4 / 9, 1e-9, l.name)
    end
  end
  T.eq(r.total.act_layers, 2)
  local all = nm.sim.system{mac = "nm", d = {4, 9}, w = {4, 9}, rows = 16, act = "all"}
  T.eq(all:config().act, "all")
  local ra = all:run(m)
  for _, l in ipairs(ra.layers) do T.eq(l.act_applied, true, l.name) end
  T.eq(ra.total.act_layers, 4)
  -- dense data costs n_D = 9 rounds per block instead of #D = 4
  T.ok(r.total.cycles > ra.total.cycles)
  T.raises(function() nm.sim.system{mac = "nm", act = "some"} end, "(auto, all)")
  local rows = nm.sim.compare({sys, all}, {m})
  T.eq(rows[1].act_layers, 2); T.eq(rows[2].act_layers, 4)
  -- a bMAC never exploits data N:M
  local b = nm.sim.system{mac = "bmac", rows = 16}:run(m)
  for _, l in ipairs(b.layers) do T.eq(l.act_applied, false, l.name) end
end)

T.done()
