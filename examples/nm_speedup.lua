-- nm_speedup.lua: what N:M buys on this CPU, layer by layer, next to the
-- pattern's ideal and to what an nm-MAC array would give (nm.speedup).
--
--   nmlab run examples/nm_speedup.lua [OUTDIR [BATCH [MODEL [CLOCK]]]]
--                         (default out, 1, resnet18, wall)
--
-- CLOCK: wall (wall-clock time on all threads) or cpu (one thread's CPU
-- time: steady when other processes share the machine).
--
-- For each pattern 2:4, 1:4, 2:8, 4:9 and 3:9, a copy of the zoo model
-- (seed 1) is pruned with nm.prune.nm (default axis: the kernel of a kxk
-- conv, input channels of a 1x1 conv or linear; the first conv and the
-- classifier stay dense and are listed as skipped). Per layer: dense
-- OpenBLAS sgemm against the compressed N:M kernel on the same im2col
-- shape (best of 3), the measured speed-up, the ideal m/n,
-- the ideal from the values actually stored (D/kpr: along a 3x3 kernel
-- a 2:4 pattern keeps 2+2+1 of 9), and the simulated speed-up of an
-- nm-MAC array (weights n:m, dense data) of the same array area as a
-- 32x32 pMAC array, on the same layer and batch.
--
-- Figures (300 dpi): OUTDIR/nm_speedup_layers.png (one panel per pattern:
-- measured CPU, ideal m/n, ideal from the values stored and simulated array
-- speed-up per layer) and OUTDIR/nm_speedup_total.png (whole network per
-- pattern; the stored-values ideal over all its products).
local F = require "fig_util"
F.need("plot", "bars", "stack")
local dir = F.outdir()
local batch = tonumber(arg[2] or "1")
local name = arg[3] or "resnet18"
local clock = arg[4] or "wall"

local patterns = {{2, 4}, {1, 4}, {2, 8}, {4, 9}, {3, 9}}
local dense <close> = nm.zoo(name, {seed = 1})
local panels, tot = {}, {cpu = {}, ideal = {}, kept = {}, sim = {}, names = {}}
print(string.format("%s, batch %d: dense OpenBLAS vs compressed N:M kernel (ms, best of 3, %s clock)",
  name, batch, clock))
for pi, p in ipairs(patterns) do
  local n, m = p[1], p[2]
  local model <close> = dense:clone()
  nm.prune.nm(model, {n = n, m = m})
  local rows, total = nm.speedup(model, {batch = batch, clock = clock})
  print()
  print(string.format("%d:%d  (%d threads, %s kernel; array: 32x32 pMAC vs equal-area nm-MAC)",
    n, m, total.threads, total.isa))
  print(string.format("  %-22s %5s %5s %6s %-6s %5s %9s %9s %7s %5s %5s %7s", "layer", "rows", "D",
    "cols", "axis", "kept", "dense ms", "nm ms", "speedup", "m/n", "D/k", "array"))
  local groups, cpu, ideal, kept, sim = {}, {}, {}, {}, {}
  local macs, stored = 0, 0
  for _, r in ipairs(rows) do
    if r.skipped then
      print(string.format("  %-22s skipped: %s", r.name, r.skipped))
    else
      print(string.format("  %-22s %5d %5d %6d %-6s %5.3f %9.3f %9.3f %7.2f %5.2f %5.2f %7s",
        r.name, r.rows, r.D, r.cols, r.axis, r.kept, r.dense_ms, r.nm_ms, r.speedup, r.ideal,
        r.ideal_kept, r.sim_speedup and string.format("%.2f", r.sim_speedup) or "-"))
      assert(r.exact, r.name .. ": compressed result outside the rounding bound")
      groups[#groups + 1] = r.name:gsub("^layer", "l"):gsub("downsample%.0", "down")
      cpu[#cpu + 1], ideal[#ideal + 1], sim[#sim + 1] = r.speedup, r.ideal, r.sim_speedup or 0
      kept[#kept + 1] = r.ideal_kept
      macs = macs + r.rows * r.D * r.cols
      stored = stored + r.rows * r.D * r.cols * r.kept
    end
  end
  print(string.format("  %-22s %36s %9.3f %9.3f %7.2f %5.2f %5.2f %7s", "total", "", total.dense_ms,
    total.nm_ms, total.speedup, m / n, macs / stored, string.format("%.2f", total.sim_speedup or 0)))
  local slower = {}
  for i, g in ipairs(groups) do if cpu[i] < 1 then slower[#slower + 1] = g end end
  print(string.format("  compressed slower than dense on %d of %d layers%s", #slower, #groups,
    #slower > 0 and (": " .. table.concat(slower, ", ")) or ""))
  panels[#panels + 1] = nm.plot.bars{
    groups = groups,
    series = {{name = "CPU measured", values = cpu}, {name = "ideal m/n", values = ideal},
              {name = "ideal, values stored", values = kept},
              {name = "nm-MAC array (sim)", values = sim}},
    value_labels = false, dpi = 300, width = 2100, height = 900,
    title = string.format("(%s) %d:%d, batch %d: speed-up over dense per layer",
      string.char(96 + pi), n, m, batch),
    ylabel = "speed-up (x)",
    params = {model = name, n = n, m = m, batch = batch, threads = total.threads, isa = total.isa,
              clock = clock},
  }
  tot.names[pi] = string.format("%d:%d", n, m)
  tot.cpu[pi], tot.ideal[pi], tot.sim[pi] = total.speedup, m / n, total.sim_speedup or 0
  tot.kept[pi] = macs / stored
end
local fig = nm.plot.stack(panels, {title = name .. ": N:M on this CPU against the ideal and an nm-MAC array",
  params = {model = name, batch = batch}})
F.save(fig, dir, "nm_speedup_layers.png")
for _, p in ipairs(panels) do p:free() end
F.save(nm.plot.bars{
  groups = tot.names,
  series = {{name = "CPU measured", values = tot.cpu}, {name = "ideal m/n", values = tot.ideal},
            {name = "ideal, values stored", values = tot.kept},
            {name = "nm-MAC array (sim)", values = tot.sim}},
  dpi = 300, size = "page", title = string.format("%s, batch %d: whole network", name, batch),
  ylabel = "speed-up (x)", params = {model = name, batch = batch, clock = clock},
}, dir, "nm_speedup_total.png")
