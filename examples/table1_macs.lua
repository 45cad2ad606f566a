-- table1_macs.lua: nmlab's MACs under preset = 'paper' beside the JointNF
-- paper's Table 1 / Table 2 figures (JOINTNF.md sections 7 and 8).
--
--   nmlab run examples/table1_macs.lua [model ...]
--
-- For each zoo model (default resnet18 resnet50 mobilenet_v2 vgg16 vit_b32):
-- dense MACs per image (conv + linear + attention matmuls), then
--   N:M only:  nm.prune.nm(model, {preset = 'paper'}): the paper's N:M
--              baseline (3:9 CNNs, 3:8 ViT) on every conv/linear layer,
--              first conv and classifier included (MobileNet-v2: pointwise
--              layers only, groups along input channels);
--   JointNF:   nm.prune.jointnf(model, {preset = 'paper'}): 4:9 weights and
--              20 % of filters (ViT: 4:8 and 30 % of rows), three rounds.
-- MACs count kept weights times output positions (model:stats sparse_macs)
-- and removed filters/input channels. The N:M-only figure does not depend
-- on the weights; JointNF's does (which filters go, and how N:M interacts
-- with them, follows the weights' magnitudes): on the zoo's synthetic
-- weights it is a figure for this model, not the paper's trained one.
--
-- Paper figures: JOINTNF.md gives Table 2 (ViT-base = ViT-B/32: dense 4.56
-- GFLOPs, JointNF-4-0.3 1.092, the 3:8 N:M baselines 1.16). It does not
-- restate Table 1's CNN figures: those rows print "-" for the paper until
-- the figures are added to PAPER below.
local PAPER = {
  vit_b32 = {dense = 4.56, nm = 1.16, jointnf = 1.092},
}

local function gmacs(m)
  local s = 0
  for _, r in ipairs(m:stats()) do s = s + r.sparse_macs end
  return s / 1e9
end

local models = {}
for i = 1, #(arg or {}) do models[#models + 1] = arg[i] end
if #models == 0 then models = {"resnet18", "resnet50", "mobilenet_v2", "vgg16", "vit_b32"} end

local function fmt(x) return x and string.format("%.3f", x) or "-" end
print("| model | row | nmlab GMACs | of dense | paper G | paper of dense | nmlab / paper |")
print("|---|---|---|---|---|---|---|")
for _, name in ipairs(models) do
  local m <close> = nm.zoo(name, {seed = 1})
  local dense = gmacs(m)
  local p = PAPER[name] or {}
  local function row(what, v, pv)
    local rel = pv and p.dense and (v / dense) / (pv / p.dense) or nil
    print(string.format("| %s | %s | %.3f | %.3f | %s | %s | %s |", name, what, v, v / dense,
                        fmt(pv), pv and p.dense and fmt(pv / p.dense) or "-", fmt(rel)))
  end
  row("dense", dense, p.dense)
  local a <close> = m:clone()
  nm.prune.nm(a, {preset = "paper"})
  local decl = ""
  for _, r in ipairs(a:stats()) do if r.nm ~= "" then decl = r.nm break end end
  row("N:M only " .. decl, gmacs(a), p.nm)
  local b <close> = m:clone()
  nm.prune.jointnf(b, {preset = "paper"})
  row("JointNF (synthetic weights)", gmacs(b), p.jointnf)
  io.stdout:flush()
end
