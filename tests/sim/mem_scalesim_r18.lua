-- ResNet-18 (SCALE-Sim topology) through the memory model, ws and os, and
-- a check of the SRAM counts against SCALE-Sim's demand-matrix formulas
-- recomputed from the CSV (docs/results.md, issue 16). Run:
--   NMLAB_SHARED=../shared build/app/nmlab run tests/sim/mem_scalesim_r18.lua
-- ResNet-18 (SCALE-Sim topology) on a 32x32 pMAC, compat, scale.cfg memory
local shared = os.getenv("NMLAB_SHARED") or "../shared"
local m = assert(nm.load(shared .. "/data/scalesim/resnet18.csv"))
local function ceil_div(a, b) return (a + b - 1) // b end
local rows = {}
for line in io.lines(shared .. "/data/scalesim/resnet18.csv") do
  local f = {}
  for x in line:gmatch("([^,]*),") do f[#f + 1] = x:match("^%s*(.-)%s*$") end
  if tonumber(f[2]) then rows[#rows + 1] = f end
end
for _, df in ipairs({"ws", "os"}) do
  for _, run in ipairs({{"calc", "v3"}, {10, "v3"}, {10, "corrected"}, {2, "v3"}, {2, "corrected"}}) do
    local bw = run[1]
    local sys = nm.sim.system{mac = "pmac", rows = 32, cols = 32, compat = "scalesim", dataflow = df,
                              sram_kb = {ifmap = 64, filter = 64, ofmap = 64}, bandwidth = bw,
                              stall_count = run[2]}
    local t0 = os.clock()
    local r = sys:run(m)
    local dt = os.clock() - t0
    -- SCALE-Sim's demand-matrix SRAM counts, recomputed from the CSV (os:
    -- v3 adds R + C = 64 per fold to its ofmap write count)
    local bad = 0
    for i, f in ipairs(rows) do
      local H, W, R, S, C, M, st = tonumber(f[2]), tonumber(f[3]), tonumber(f[4]), tonumber(f[5]),
        tonumber(f[6]), tonumber(f[7]), tonumber(f[8])
      local E = ceil_div(H - R + st, st) * ceil_div(W - S + st, st)
      local K = R * S * C
      local rf = df == "ws" and ceil_div(K, 32) or ceil_div(E, 32)
      local cf = ceil_div(M, 32)
      local l = r.layers[i]
      local ok = l.sram_reads.ifmap == E * K * cf
        and l.sram_reads.filter == K * M * (df == "os" and rf or 1)
        and l.sram_writes.ofmap == (df == "ws" and E * M * rf or E * M + rf * cf * 64)
      if not ok then bad = bad + 1; print("MISMATCH", df, f[1]) end
    end
    assert(bad == 0, bad .. " layers differ from SCALE-Sim's formulas")
    local t = r.total
    print(string.format("%s stall=%-9s bw=%-4s cycles %d stall %d  SRAM rd ifmap %.4g filter %.4g wr ofmap %.4g  DRAM rd ifmap %.4g filter %.4g wr ofmap %.4g  need %.2f w/c  formula mismatches %d/%d  %.2f ms",
      df, run[2], tostring(bw), t.cycles, t.stall_cycles, t.sram_reads.ifmap, t.sram_reads.filter, t.sram_writes.ofmap,
      t.dram_reads.ifmap, t.dram_reads.filter, t.dram_writes.ofmap, t.bw_need, bad, #rows, dt * 1e3))
  end
end
local base = nm.sim.system{mac = "pmac", rows = 32, cols = 32, compat = "scalesim"}:run(m)
print("no memory options: cycles " .. base.total.cycles .. " stall " .. base.total.stall_cycles)
print("SRAM counts match SCALE-Sim's formulas on every layer")
