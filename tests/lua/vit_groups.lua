-- Slow (suite slow): the paper's transformer setting on the zoo's ViT-B/16,
--   nm.prune.jointnf(vit, {n = 4, m = 8, filters = 0.3, group = 'in', allow_add = true})
-- and the dense-relative MACs of the linear layers (patch conv included)
-- and the attention matmuls, printed for docs/results.md. Checked: the
-- residual stream has one width everywhere (patch conv, every out_proj and
-- mlp.3, every consumer's inputs), the classifier keeps its 1000 rows, Q
-- and K keep the same head dimensions, and the shrunk model's matmul MACs
-- equal tokens^2 x the kept Q (or V) channels counted here from the masks.
-- Usage: nmlab run tests/lua/vit_groups.lua [mean|sum|max|uniform [zoo model]]
-- (uniform: nm.prune.nm 4:8 and nm.prune.filters ratio 0.3 per layer,
-- the paper's even split, instead of JointNF's global ranking)
-- (the model defaults to vit_b16; any zoo ViT built like it, vit_b32 once
-- the zoo has it)
local T = require "nm.test"

local red = arg and arg[1] or "mean"
local name = arg and arg[2] or "vit_b16"

T.case(name .. " JointNF-4-0.3 with groups", function()
  local m = nm.zoo(name)
  local rep
  if red == "uniform" then
    -- the paper's allocation: 4:8 everywhere and 30 % of each layer's rows
    -- (groups led by each layer: the stream by the patch conv, head
    -- dimensions by in_proj, MLP units by mlp.0)
    nm.prune.nm(m, {n = 4, m = 8, group = "in"})
    rep = nm.prune.filters(m, {ratio = 0.3, global = false, allow_add = true})
  else
    rep = nm.prune.jointnf(m, {n = 4, m = 8, filters = 0.3, group = "in", allow_add = true,
                               group_reduction = red})
  end
  -- per layer, in_proj's 30 % is met with head-dimension groups of 24 and
  -- 12 rows: what does not fit is left (at most 11 rows per block)
  if red == "uniform" then
    T.eq(rep.filters_unmet < 12 * #m:layers(), true, "unmet " .. rep.filters_unmet)
  else
    T.eq(rep.filters_unmet, 0)
  end
  local st = m:stats()
  local byname = {}
  for _, r in ipairs(st) do byname[r.name] = r end
  -- one stream width
  local dim = byname["conv_proj"].filters
  local width = byname["conv_proj"].filters_kept
  if red == "mean" then T.eq(width < dim, true, "the embedding width shrank") end
  for _, r in ipairs(st) do
    if r.name:match("out_proj$") or r.name:match("mlp%.3$") then
      T.eq(r.filters_kept, width, r.name .. " rows")
    end
    if r.name:match("in_proj$") or r.name:match("mlp%.0$") or r.name == "heads.head" then
      T.eq(r.in_chans_kept, width, r.name .. " inputs")
    end
  end
  T.eq(byname["heads.head"].filters_kept, 1000, "no class is deleted")
  -- MACs: linear layers by the formula, matmuls from the shrunk model
  local s = m:shrink()
  local ss = s:stats()
  local d, e, dm, em = 0, 0, 0, 0
  for i, r in ipairs(st) do
    if r.kind == "linear" or r.kind == "conv" then
      local w = 1
      if r.nm ~= "" then local a, b = r.nm:match("(%d+):(%d+)"); w = a / b end
      d = d + r.macs
      e = e + r.macs * (r.filters_kept / r.filters) * (r.in_chans_kept / r.in_chans) * w
    elseif r.kind == "matmul" then
      dm = dm + r.macs
      em = em + ss[i].macs
      -- Q's (or V's) kept channels: in_proj rows from the masks
      local blk = r.name:match("^(.*)%.self_attention")
      local f = m:layer(blk .. ".self_attention.in_proj").filters
      local off = r.name:match("scores$") and 0 or 2 * dim
      local kept = 0
      for c = 1, dim do kept = kept + f:get(off + c) end
      local tokens = r.positions
      T.eq(ss[i].macs, tokens * tokens * kept, r.name .. " MACs")
      if off == 0 then
        for c = 1, dim do T.eq(f:get(c), f:get(dim + c), blk .. " Q and K dimension " .. c) end
      end
    end
  end
  print(string.format("%s, %s: stream width %d of %d, filters unmet %d", name, red, width, dim,
                      rep.filters_unmet))
  print(string.format("linear  dense %.4g  effective %.4g  (%.4f)", d, e, e / d))
  print(string.format("matmul  dense %.4g  effective %.4g  (%.4f)", dm, em, em / dm))
  print(string.format("linear+matmul effective / dense = %.4f (paper 0.5 x 0.7 x 0.7 = 0.245; "
                      .. "Table 2: 1.092 / 4.56 = 0.239)", (e + em) / (d + dm)))
  local agg = {}
  for _, r in ipairs(st) do
    local k = r.name:match("in_proj$") and "in_proj" or r.name:match("out_proj$") and "out_proj"
      or r.name:match("mlp%.0$") and "mlp.0" or r.name:match("mlp%.3$") and "mlp.3"
    if k then
      local a = agg[k] or {0, 0, 0, 0}
      a[1], a[2] = a[1] + r.filters_kept, a[2] + r.filters
      a[3], a[4] = a[3] + r.in_chans_kept, a[4] + r.in_chans
      agg[k] = a
    end
  end
  for _, k in ipairs{"in_proj", "out_proj", "mlp.0", "mlp.3"} do
    local a = agg[k]
    print(string.format("  %-8s rows kept %.3f  inputs kept %.3f", k, a[1] / a[2], a[3] / a[4]))
  end
end)

T.done()
