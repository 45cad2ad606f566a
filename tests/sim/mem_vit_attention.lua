-- ViT-B/16 with and without attention matmuls (docs/results.md, issue 16):
-- build/app/nmlab run tests/sim/mem_vit_attention.lua
local m = nm.zoo("vit_b16")
for _, att in ipairs({false, true}) do
  local r = nm.sim.system{mac = "pmac", rows = 32, attention = att, dram = true,
                          sram_kb = {ifmap = 64, filter = 64, ofmap = 64}, bandwidth = 10}:run(m)
  print(string.format("attention=%-5s layers %d cycles %d stall %d  dense MACs %.4g  E %.4g uJ",
    tostring(att), #r.layers, r.total.cycles, r.total.stall_cycles, r.total.dense_macs, r.total.energy.total / 1e6))
  if att then
    for i = 1, #r.layers do
      local l = r.layers[i]
      if i <= 8 then print("  ", l.name, l.E, l.K, l.Nf, l.groups, l.cycles, l.stall_cycles, string.format("%.3f", l.util)) end
    end
  end
end
