-- The four paper systems on ResNet-18 with DRAM energy, without and with the
-- memory model (docs/results.md, issue 16): build/app/nmlab run tests/sim/mem_systems.lua
-- four paper systems on ResNet-18 (zoo), 32x32-equal area, DRAM energy in
local m = nm.zoo("resnet18")
local specs = {"pmac", "bmac", "nm-4-4", "nm-6-4"}
local sides = nm.sim.equal_area(specs)
local base
for i, s in ipairs(specs) do
  for _, mem in ipairs({false, true}) do
    local o = {mac = s, rows = sides[i], dram = true}
    if mem then o.sram_kb = {ifmap = 64, filter = 64, ofmap = 64}; o.bandwidth = 10 end
    local r = nm.sim.system(o):run(m)
    local t = r.total
    if i == 1 and not mem then base = t.energy.total end
    print(string.format("%-7s %2dx%-2d mem=%-5s cycles %9d stall %8d  DRAM words %.4g  E %.4g uJ (dram %.4g uJ)  E/pMAC %.3f",
      s, sides[i], sides[i], tostring(mem), t.cycles, t.stall_cycles,
      t.dram_reads.ifmap + t.dram_reads.filter + t.dram_writes.ofmap,
      t.energy.total / 1e6, t.energy.dram / 1e6, t.energy.total / base))
  end
end
