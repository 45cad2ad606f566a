-- global_magnitude.lua: the paper's motivating experiment. One magnitude
-- threshold over all of a network's weights (80 % of them pruned) leaves
-- the layers at very different densities; uniform N:M cannot adapt so.
--
--   nmlab run examples/global_magnitude.lua [MODEL] [SPARSITY]
--                                           (default resnet18 0.8)
--
-- Prints, per conv/linear layer: weights, density before and after, and
-- the share of all removed weights that came from that layer. The weights
-- are the zoo's deterministic synthetic ones (seed 1), not trained ones.
local MODEL = arg[1] or "resnet18"
local SPARSITY = tonumber(arg[2] or "0.8")

local dense = nm.zoo(MODEL, {seed = 1})
local pruned = dense:clone()
-- every conv and linear layer takes part (first conv and classifier too)
local report = nm.prune.global(pruned, {sparsity = SPARSITY,
  include_first = true, include_last = true})

local before = {}
for _, r in ipairs(dense:stats()) do before[r.name] = r end
local removed_total = report.params - report.nonzeros

print(string.format("%s: global magnitude pruning to %.0f %% sparsity (seed 1)",
  MODEL, 100 * SPARSITY))
print(string.format("%-24s %10s %8s %8s %9s", "layer", "weights", "before", "after",
  "of removed"))
for _, r in ipairs(report) do
  local b = before[r.name]
  print(string.format("%-24s %10d %7.1f%% %7.1f%% %8.1f%%", r.name, r.params,
    100 * b.density, 100 * r.density, 100 * (r.params - r.nonzeros) / removed_total))
end
print(string.format("%-24s %10d %7.1f%% %7.1f%%", "all", report.params, 100.0,
  100 * (1 - report.sparsity)))
local lo, hi
for _, r in ipairs(report) do
  if not lo or r.density < lo.density then lo = r end
  if not hi or r.density > hi.density then hi = r end
end
print(string.format("densest layer %s (%.1f %%), sparsest %s (%.1f %%)", hi.name,
  100 * hi.density, lo.name, 100 * lo.density))
