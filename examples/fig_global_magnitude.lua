-- fig_global_magnitude.lua: global magnitude pruning of ResNet-18 to 80 %
-- sparsity, and the density of every prunable layer before and after.
-- One threshold over all layers leaves layers at very different densities
-- (large late layers lose most, the small first conv keeps most): this is
-- the adaptivity that uniform N:M lacks.
--
--   nmlab run examples/fig_global_magnitude.lua [OUTDIR]     (default "out")
--
-- Writes OUTDIR/global_magnitude_density.png and
-- OUTDIR/global_magnitude_table.png. Needs nm.prune (the pruning bindings).
local F = require "fig_util"

local SPARSITY = 0.8
local MODEL, SEED = "resnet18", 1

F.need("prune", "global")
local dir = F.outdir()

local dense = nm.zoo(MODEL, {seed = SEED})
local pruned = dense:clone()
-- Every conv and linear layer takes part, the first conv and the classifier
-- included (the paper prunes 80 % of all of ResNet-18's weights).
nm.prune.global(pruned, {sparsity = SPARSITY, include_first = true, include_last = true})

local params = {model = MODEL, seed = SEED, prune = "global", sparsity = SPARSITY}
F.save(nm.plot.layer_density(pruned, dense, {
  title = string.format("ResNet-18: global magnitude pruning to %d%% sparsity",
    math.floor(SPARSITY * 100 + 0.5)),
  size = "page", params = params,   -- 7 x 3.5 in at 300 dpi
}), dir, "global_magnitude_density.png")

-- The same figures as a table: weights kept per layer and overall.
local rows, kept, total = {}, 0, 0
local before = dense:stats()
for i, r in ipairs(pruned:stats()) do
  if r.params > 0 and (r.kind == "conv" or r.kind == "linear") then
    rows[#rows + 1] = {r.name, r.weight_shape, before[i].nonzeros, r.nonzeros,
      string.format("%.1f%%", 100 * r.density)}
    kept, total = kept + r.nonzeros, total + r.params
  end
end
rows[#rows + 1] = {"all prunable layers", "", total, kept,
  string.format("%.1f%%", 100 * kept / total)}
F.save(nm.plot.table{
  title = "Weights kept per layer", params = params,
  header = {"layer", "weight", "nonzero before", "nonzero after", "density"},
  rows = rows,
}, dir, "global_magnitude_table.png")
print(string.format("overall density %.3f (target %.3f)", kept / total, 1 - SPARSITY))
