-- fig_energy.lua: ResNet-18 on a 32 x 32 systolic array of dense pMACs,
-- bMACs (3:9 weights) and nm-MACs (4:9 data, 4:9 weights), simulated by
-- nm.sim: energy per component for each system, energy and utilization
-- per layer on the nm-MAC array, and a table of the totals. The MACs'
-- N:M settings are the simulator's defaults (see docs/lua-api.md, nm.sim).
--
--   nmlab run examples/fig_energy.lua [OUTDIR]       (default "out")
--
-- Writes OUTDIR/energy_systems.png, OUTDIR/energy_layers_nm.png,
-- OUTDIR/utilization_nm.png and OUTDIR/energy_table.png. Needs nm.sim.
local F = require "fig_util"

local MODEL, SEED, SIDE = "resnet18", 1, 32
local MACS = {"pmac", "bmac", "nm"}

F.need("sim", "system")
local dir = F.outdir()

local model <close> = nm.zoo(MODEL, {seed = SEED})
local reports = {}
for i, mac in ipairs(MACS) do
  local sys = nm.sim.system{mac = mac, rows = SIDE, cols = SIDE}
  reports[i] = sys:run(model)
end
local nmr = reports[#reports]
local where = string.format("ResNet-18, %dx%d array", SIDE, SIDE)

-- Print sizes at 300 dpi: one column (3.5 x 2.5 in) for the systems, the
-- full text width (7 x 3.5 in) for the per-layer charts.
F.save(nm.plot.energy(reports, {size = "column", title = "Energy per inference: " .. where}),
  dir, "energy_systems.png")
F.save(nm.plot.energy(nmr, {size = "page",
  title = "Energy per layer: " .. nmr.mac .. ", " .. where}), dir, "energy_layers_nm.png")
F.save(nm.plot.utilization(nmr, {size = "page",
  title = "Utilization per layer: " .. nmr.mac .. ", " .. where}), dir, "utilization_nm.png")

-- Totals as a table; energies in microjoules, cycles relative to the pMAC.
-- A table sized to fit is drawn at 300 dpi (its 9 pt text at print size).
local rows = {}
for _, r in ipairs(reports) do
  local t = r.total
  rows[#rows + 1] = {r.mac, t.cycles, string.format("%.2fx", reports[1].total.cycles / t.cycles),
    string.format("%.1f%%", 100 * t.util), string.format("%.1f%%", 100 * t.mult_util),
    string.format("%.1f", t.energy.total / 1e6)}
end
local params = {}
for _, r in ipairs(reports) do params[r.mac] = r.system end
F.save(nm.plot.table{title = where, params = params,
  header = {"system", "cycles", "speed-up", "PE util.", "mult. util.", "energy (\u{b5}J)"},
  rows = rows}, dir, "energy_table.png")
