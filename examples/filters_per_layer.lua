-- filters_per_layer.lua: where a filter target goes, layer by layer.
--
--   nmlab run examples/filters_per_layer.lua [model [preset|normalize|uniform|convonly]]
--
-- On a zoo model (default vgg16, synthetic weights, seed 1):
--   preset    nm.prune.jointnf(m, {preset = 'paper'}) (default)
--   normalize the same with normalize = 'mean' (each layer's, stream's
--             or block's scores over their own mean)
--   uniform   nm.prune.nm at the preset's JointNF N:M (first conv and
--             classifier included), then nm.prune.filters with the preset's
--             share per layer (global = false): the even split
--   convonly  JointNF at the preset's N:M and share with the linear layers
--             before the classifier left out (VGG's fc6 / fc7), so that the
--             share is one of conv filters
-- Prints, per conv/linear layer, the filters removed, the input channels
-- kept and the MACs (model:stats sparse_macs) before and after, then the
-- totals over the convs, the linear layers and the model.
local name = arg and arg[1] or "vgg16"
local how = arg and arg[2] or "preset"
local m <close> = nm.zoo(name, {seed = 1})
local d = m:stats()
local b <close> = m:clone()
local N, M, share = 4, 9, 0.2
if name:match("^vit") then N, M, share = 4, 8, 0.3 end
if how == "uniform" then
  nm.prune.nm(b, {n = N, m = M, include_first = true, include_last = true})
  nm.prune.filters(b, {ratio = share, global = false, include_first = true})
elseif how == "convonly" then
  local skip = {}
  for i, r in ipairs(d) do
    if r.kind == "linear" and i < #d then skip[r.name] = false end
  end
  nm.prune.jointnf(b, {n = N, m = M, filters = share, include_first = true, include_last = true,
                       layers = skip})
elseif how == "normalize" then
  nm.prune.jointnf(b, {preset = "paper", normalize = "mean"})
else
  nm.prune.jointnf(b, {preset = "paper"})
end
local st = b:stats()
local tot = {conv = {0, 0, 0, 0}, linear = {0, 0, 0, 0}}
print("| layer | filters | removed | inputs kept | dense MACs (M) | kept MACs (M) | of dense |")
print("|---|---|---|---|---|---|---|")
for i, r in ipairs(st) do
  local t = tot[r.kind]
  if t then
    local gone = r.filters - r.filters_kept
    t[1], t[2] = t[1] + r.filters, t[2] + gone
    t[3], t[4] = t[3] + d[i].sparse_macs, t[4] + r.sparse_macs
    print(string.format("| %s | %d | %d | %d / %d | %.1f | %.1f | %.3f |", r.name, r.filters, gone,
                        r.in_chans_kept, r.in_chans, d[i].sparse_macs / 1e6, r.sparse_macs / 1e6,
                        r.sparse_macs / d[i].sparse_macs))
  end
end
local D, S = 0, 0
for _, r in ipairs(d) do D = D + r.sparse_macs end
for _, r in ipairs(st) do S = S + r.sparse_macs end
for _, k in ipairs({"conv", "linear"}) do
  local t = tot[k]
  print(string.format("%s layers: %d filters, %d removed; MACs %.1f M -> %.1f M", k, t[1], t[2],
                      t[3] / 1e6, t[4] / 1e6))
end
print(string.format("%s %s: MACs %.4f G of %.4f G (%.4f of dense)", name, how, S / 1e9, D / 1e9, S / D))
