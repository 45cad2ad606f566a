-- act_honest.lua: what assuming data (activation) N:M on every layer
-- overstated, now that it applies only where an NMReLU (or a ReLU turned
-- into one) feeds the layer (nm_layer_act_source, JOINTNF.md section 9).
--
--   nmlab run examples/act_honest.lua [MODEL ...]   (default resnet18 vit_b16 vit_b32)
--
-- Each model (zoo, synthetic weights, seed 1) is pruned with JointNF 4:9
-- weights and 20 % of the candidate filters (ViTs: 30 % of rows), 3
-- rounds: once with nmlab's defaults (first conv and classifier dense),
-- once as examples/sim_compare.lua does for the nm-MAC-4-4 system (those
-- two layers then 4:9 with nm.prune.nm). Then
--   MACs:   model:stats{act = {n = 4, m = 9}} per layer (where it applies)
--           against the same with declare = true (every layer: the old figure)
--   energy: a 16x16 nm-MAC-4-4 system, act = 'auto' against act = 'all'.

-- JointNF-4-4 (ViTs: 30 % of rows); ends = true also gives the first conv
-- and the classifier 4:9 weights (as examples/sim_compare.lua does).
local function prune(name, m, ends)
  local f = name:find("^vit") and 0.3 or 0.2
  local rep = nm.prune.jointnf(m, {n = 4, m = 9, filters = f, rounds = 3})
  for _, r in ipairs(rep) do
    if ends and (r.skipped == "first conv" or r.skipped == "classifier") then
      nm.prune.nm(m:layer(r.name), {n = 4, m = 9})
    end
  end
end

local function macs(m, declare)
  local eff, dense, applied, layers = 0, 0, 0, 0
  for _, r in ipairs(m:stats({act = {n = 4, m = 9, declare = declare}})) do
    if r.macs > 0 then
      eff, dense = eff + r.eff_macs, dense + r.macs
      layers = layers + 1
      if r.act_applied then applied = applied + 1 end
    end
  end
  return eff, dense, applied, layers
end

local auto = nm.sim.system{mac = "nm", d = {4, 9}, w = {4, 9}, rows = 16}
local all = nm.sim.system{mac = "nm", d = {4, 9}, w = {4, 9}, rows = 16, act = "all"}
local models = #arg > 0 and arg or {"resnet18", "vit_b16", "vit_b32"}
for _, name in ipairs(models) do
  local dense <close> = nm.zoo(name, {seed = 1})
  for _, ends in ipairs({false, true}) do
    local m <close> = dense:clone()
    prune(name, m, ends)
    local e1, d, a1, n = macs(m, false)
    local e0 = macs(m, true)
    print(string.format("%s, first conv and classifier %s: effective MACs %.4g (%.3f of dense "
      .. "%.4g), data N:M on %d of %d layers with MACs", name, ends and "4:9" or "dense", e1,
      e1 / d, d, a1, n))
    print(string.format("  declared on every layer: %.4g (%.3f of dense), %.1f %% below; "
      .. "honest / declared = %.3f", e0, e0 / d, 100 * (1 - e0 / e1), e1 / e0))
    if ends then
      local ra, r0 = auto:run(m), all:run(m)
      print(string.format("  nm-4-4 16x16 act=auto: %d cycles, %.2f uJ, data N:M on %d layers",
        ra.total.cycles, ra.total.energy.total / 1e6, ra.total.act_layers))
      print(string.format("  nm-4-4 16x16 act=all:  %d cycles, %.2f uJ; auto / all: energy "
        .. "%.2f, cycles %.2f", r0.total.cycles, r0.total.energy.total / 1e6,
        ra.total.energy.total / r0.total.energy.total, ra.total.cycles / r0.total.cycles))
    end
  end
end
print("switches: " .. tostring(auto))
