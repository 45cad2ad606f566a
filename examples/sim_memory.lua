-- sim_memory.lua: the paper's four equal-area systems on ResNet-18 with
-- DRAM included, without and with memory limits (issue 16).
--
--   nmlab run examples/sim_memory.lua [OUTDIR]
--
-- Systems and pruning as examples/sim_compare.lua (32x32 pMAC dense, 20x20
-- bMAC 3:9 weights, 16x16 nm-4-4 JointNF-4-4-0.2, 15x15 nm-6-4
-- JointNF-6-4-0.1; zoo weights seed 1, no fine-tuning; first conv and
-- classifier at the system's N:M). Each pruned network runs under three
-- memory settings, all with `dram = true` (DRAM energy counted):
--   unlimited   no memory model: every tensor crosses DRAM once, no stall
--   64 KB, 10   sram_kb = 64 per operand, bandwidth 10 words/cycle
--               (SCALE-Sim's scale.cfg), double-buffered, 1-byte words
--   64 KB, 2    the same at 2 words/cycle
-- Printed per system and setting: cycles, stall cycles, DRAM words, total
-- energy, DRAM energy, energy relative to the pMAC under the same setting
-- and to the pMAC without memory limits, the number of memory-bound layers.
-- With OUTDIR, the roofline of each system at 10 words/cycle is written
-- there (roofline_<mac>.png, nm.plot.roofline, 300 dpi).
local outdir = arg[1]

local specs = {
  {mac = "pmac"},
  {mac = "bmac", w = {3, 9}},
  {mac = "nm", d = {4, 9}, w = {4, 9}},
  {mac = "nm", d = {6, 9}, w = {4, 9}},
}
local settings = {
  {name = "unlimited"},
  {name = "64 KB, bw 10", sram_kb = {ifmap = 64, filter = 64, ofmap = 64}, bandwidth = 10},
  {name = "64 KB, bw 2", sram_kb = {ifmap = 64, filter = 64, ofmap = 64}, bandwidth = 2},
}
local budget = nm.sim.system{mac = "pmac", rows = 32, cols = 32}
local sides = nm.sim.equal_area(specs, {budget = budget})

-- The first conv and the classifier: the layers JointNF leaves out.
local function ends(report)
  local out = {}
  for _, r in ipairs(report) do
    if r.skipped == "first conv" or r.skipped == "classifier" then out[#out + 1] = r.name end
  end
  return out
end

-- Prunes `model` in place for system i, as examples/sim_compare.lua does.
local function prune_for(i, model)
  if i == 1 then return end
  local rep
  if i == 2 then
    rep = nm.prune.nm(model, {n = 3, m = 9})
  else
    rep = nm.prune.jointnf(model, {n = 4, m = 9, filters = i == 3 and 0.2 or 0.1, rounds = 3})
  end
  for _, lname in ipairs(ends(rep)) do
    nm.prune.nm(model:layer(lname), {n = i == 2 and 3 or 4, m = 9})
  end
end

local t0 = os.clock()
local dense <close> = nm.zoo("resnet18", {seed = 1})
local rows = {}
for i, spec in ipairs(specs) do
  local m <close> = dense:clone()
  prune_for(i, m)
  for k, st in ipairs(settings) do
    local o = {rows = sides[i], cols = sides[i], dram = true, sram_kb = st.sram_kb,
               bandwidth = st.bandwidth}
    for key, v in pairs(spec) do o[key] = v end
    local sys = nm.sim.system(o)
    local r = sys:run(m)
    local t = r.total
    local nmem = 0
    for _, l in ipairs(r.layers) do
      if l.roofline.bound == "memory" then nmem = nmem + 1 end
    end
    rows[#rows + 1] = {i = i, k = k, label = string.format("%s %dx%d", r.mac, sides[i], sides[i]),
                       setting = st.name, cycles = t.cycles, stall = t.stall_cycles,
                       words = t.dram_reads.ifmap + t.dram_reads.filter + t.dram_writes.ofmap,
                       energy = t.energy.total, dram = t.energy.dram, nmem = nmem,
                       layers = #r.layers, switches = tostring(sys)}
    if outdir and k == 2 then
      local mac = r.mac:gsub("[^%w%-]", "_")
      assert(nm.plot.roofline(r, {out = outdir .. "/roofline_" .. mac .. ".png", dpi = 300,
        title = string.format("ResNet-18 on %s, 64 KB SRAMs, 10 words/cycle", rows[#rows].label)}))
    end
  end
end

-- energy of the pMAC per setting, and without memory limits
local e_pmac, e0 = {}, nil
for _, r in ipairs(rows) do
  if r.i == 1 then e_pmac[r.k] = r.energy end
  if r.i == 1 and r.k == 1 then e0 = r.energy end
end
print("ResNet-18, four equal-area systems (pruned as examples/sim_compare.lua), dram = true")
print(string.format("| %-18s | %-12s | %10s | %9s | %10s | %11s | %9s | %8s | %9s | %9s |",
  "system", "memory", "cycles", "stall", "DRAM words", "energy (uJ)", "DRAM (uJ)", "mem-bound",
  "E / pMAC", "E / pMAC0"))
print("|---|---|---|---|---|---|---|---|---|---|")
table.sort(rows, function(a, b) return a.k < b.k or (a.k == b.k and a.i < b.i) end)
for _, r in ipairs(rows) do
  print(string.format("| %-18s | %-12s | %10d | %9d | %10.4g | %11.1f | %9.1f | %5d/%-2d | %9.3f | %9.3f |",
    r.label, r.setting, r.cycles, r.stall, r.words, r.energy / 1e6, r.dram / 1e6, r.nmem, r.layers,
    r.energy / e_pmac[r.k], r.energy / e0))
end
print("E / pMAC: energy over the pMAC's under the same memory setting; E / pMAC0: over the pMAC's without memory limits")
for i = 1, #specs do
  for _, r in ipairs(rows) do
    if r.i == i and r.k == 2 then print(string.format("switches %d: %s", i, r.switches)) end
  end
end
print(string.format("(%.1f s CPU)", os.clock() - t0))
