-- sim_compare.lua: the paper's four equal-area systems on four networks,
-- each system on its own really pruned copy of the network.
--
--   nmlab run examples/sim_compare.lua [MODEL ...]
--                     (default resnet18 resnet50 mobilenet_v2 vit_b16)
--
-- Systems (JOINTNF.md section 6), sized by nm.sim.equal_area from the
-- array area of a 32x32 pMAC system: 32x32 pMAC, 20x20 bMAC (3:9 weights),
-- 16x16 nm-MAC-4-4 and 15x15 nm-MAC-6-4, weight stationary, 8-bit.
--
-- Pruning (JOINTNF.md section 7), on the zoo's synthetic weights (seed 1),
-- no fine-tuning between rounds:
--   pMAC    the dense model
--   bMAC    3:9 weights (nm.prune.nm), no filters removed
--   nm-4-4  JointNF-4-4-0.2: nm.prune.jointnf 4:9 weights, 20 % of filters, 3 rounds
--   nm-6-4  JointNF-6-4-0.1: 4:9 weights, 10 % of filters, 3 rounds
--   (MobileNet-v2: max_sparsity = 0.5, at most half of a layer's filters)
-- JointNF removes filters among its candidates (not the first conv, not the
-- classifier, not channels feeding a residual add); the first conv and the
-- classifier then get the same weight N:M (nm.prune.nm on the layer), so
-- every layer runs at the system's N:M. Removed filters also remove the
-- consumers' input channels (the simulator reads filters and in_chans).
-- MobileNet-v2: pointwise (1x1) layers only, groups along input channels;
-- its 3x3 and depthwise convs stay dense. ViT-B/16: 30 % of rows, and 4:9
-- weights in place of the paper's 4:8 so that they fit the 9-wide nm-MAC
-- slices. Data: nm systems take activations at their #D:9 only where a
-- ReLU (made NMReLU by the SFU) feeds the layer (system act = 'auto'): not
-- on the first conv and nowhere in ViT, which has no ReLU.
-- Every number printed is followed by the switches it was computed with.

local specs = {
  {mac = "pmac"},
  {mac = "bmac", w = {3, 9}},
  {mac = "nm", d = {4, 9}, w = {4, 9}},
  {mac = "nm", d = {6, 9}, w = {4, 9}},
}
local budget = nm.sim.system{mac = "pmac", rows = 32, cols = 32}
local sides, systems = nm.sim.equal_area(specs, {budget = budget})
print(string.format("equal-area budget: array of %s = %.0f um^2 -> sides %s",
  "32x32 pMAC", budget:area().array, table.concat(sides, ", ")))

-- Layers left alone on MobileNet-v2: every conv that is not 1x1.
local function not_pointwise(model)
  local skip = {}
  for _, l in ipairs(model:layers()) do
    if l.kind == "conv" or l.kind == "dwconv" then
      local sh = l.weight:shape()
      if sh[3] * sh[4] > 1 then skip[l.name] = false end
    end
  end
  return skip
end

-- The first conv and the classifier: the layers JointNF leaves out.
local function ends(report)
  local out = {}
  for _, r in ipairs(report) do
    if r.skipped == "first conv" or r.skipped == "classifier" then out[#out + 1] = r.name end
  end
  return out
end

-- Prunes `model` in place for system i (1..4) of the model `name`.
-- Returns a short description of what was done.
local function prune_for(i, name, model)
  if i == 1 then return "dense" end
  local skip = name == "mobilenet_v2" and not_pointwise(model) or nil
  local group = name == "mobilenet_v2" and "in" or nil
  local rep
  if i == 2 then
    rep = nm.prune.nm(model, {n = 3, m = 9, group = group, layers = skip})
  else
    local f = (name == "vit_b16") and 0.3 or (i == 3 and 0.2 or 0.1)
    -- MobileNet-v2: no layer may lose more than half its filters (uncapped,
    -- the ranking empties features.17.conv.2 and features.18.0 but one)
    local cap = name == "mobilenet_v2" and 0.5 or nil
    rep = nm.prune.jointnf(model, {n = 4, m = 9, filters = f, rounds = 3, group = group,
      layers = skip, max_sparsity = cap})
    if rep.message then print("  " .. name .. ": " .. rep.message) end
  end
  local n = i == 2 and 3 or 4
  for _, lname in ipairs(ends(rep)) do
    local l = model:layer(lname)
    local sh = l.weight:shape()
    if name ~= "mobilenet_v2" or #sh == 2 or sh[3] * sh[4] == 1 then
      nm.prune.nm(l, {n = n, m = 9, group = group})
    end
  end
  local kept, params, fk, fa = 0, 0, 0, 0
  for _, r in ipairs(model:stats()) do
    if r.params > 0 and (r.kind == "conv" or r.kind == "linear" or r.kind == "dwconv") then
      kept, params = kept + r.nonzeros, params + r.params
      fk, fa = fk + r.filters_kept, fa + r.filters
    end
  end
  return string.format("%.1f %% of weights and %.1f %% of filters kept",
    100 * kept / params, 100 * fk / fa)
end

local models = #arg > 0 and arg or {"resnet18", "resnet50", "mobilenet_v2", "vit_b16"}
for _, name in ipairs(models) do
  local t0 = os.clock()
  print()
  print(string.format("%s (%s)", name, nm.zoo_describe(name)))
  print(string.format("  %-18s %12s %7s %12s %8s %7s  %s", "system", "cycles", "util",
    "energy uJ", "speedup", "E/E0", "pruning"))
  local base
  local dense <close> = nm.zoo(name, {seed = 1})
  for i, sys in ipairs(systems) do
    local m <close> = dense:clone()
    local what = prune_for(i, name, m)
    local r = sys:run(m)
    local t = r.total
    base = base or t
    local label = string.format("%s %dx%d", r.mac, sides[i], sides[i])
    print(string.format("  %-18s %12d %7.3f %12.2f %8.2f %7.3f  %s", label, t.cycles, t.util,
      t.energy.total / 1e6, base.cycles / t.cycles, t.energy.total / base.energy.total, what))
  end
  for i, sys in ipairs(systems) do print(string.format("  switches %d: %s", i, tostring(sys))) end
  print(string.format("  (%.1f s CPU)", os.clock() - t0))
end
