-- vit_table2_readings.lua: which count could give the JointNF paper's
-- Table 2 N:M-only ViT-base figure (1.16 GFLOPs of a dense 4.56, 0.254;
-- JOINTNF.md section 8: "the N:M baselines (SR-STE, ASP) use 3:8")?
--
--   nmlab run examples/vit_table2_readings.lua
--
-- Each reading is computed twice on the zoo's vit_b32 (50 tokens, width
-- 768, MLP 3072, 12 blocks; patch conv 49 x 768 x 3072 MACs, head 768 x
-- 1000): by the hand formula, and, where nmlab can express it, by pruning
-- a copy and summing model:stats() sparse_macs (attention matmuls dense:
-- they have no weights). The two columns must agree. Then each figure
-- beside the paper's, in GMACs and as a share of dense.
local T, D, H, B = 50, 768, 3072, 12
local patch = 49 * D * 3 * 32 * 32
local lin = B * T * (3 * D * D + D * D + 2 * D * H)
local mm = B * 2 * T * T * D
local head = D * 1000
local dense = patch + lin + mm + head
local P_DENSE, P_NM, P_JNF = 4.56, 1.16, 1.092

local base = nm.zoo("vit_b32", {seed = 1})
local function macs(m)
  local s = 0
  for _, r in ipairs(m:stats()) do s = s + r.sparse_macs end
  return s
end
assert(macs(base) == dense, "dense MACs differ from the hand count")

-- prune a copy: N:M n:m on the linear layers of the blocks ('in' axis),
-- optionally the patch conv along its rows and the head
local function nm_copy(n, m, ends)
  local c = base:clone()
  local layers = {}
  if ends then layers["conv_proj"] = {n = n, m = m, group = "row"} end
  nm.prune.nm(c, {n = n, m = m, group = "in", include_first = ends, include_last = ends,
                  layers = layers})
  local v = macs(c)
  c:free()
  return v
end

local rows = {
  {"3:8 blocks, head 3:8, patch conv 'in' (3 channels: stays dense), matmuls dense = preset 'paper'",
   3 * lin / 8 + 3 * head / 8 + patch + mm, function()
     local c = base:clone()
     nm.prune.nm(c, {preset = "paper"})
     local v = macs(c)
     c:free()
     return v
   end},
  {"3:8 every conv/linear (patch conv along rows), matmuls dense", 3 * (lin + patch + head) / 8 + mm,
   function() return nm_copy(3, 8, true) end},
  {"3:8 blocks only, patch conv / head / matmuls dense", 3 * lin / 8 + patch + head + mm,
   function() return nm_copy(3, 8, false) end},
  {"3:8 on everything, matmuls too", 3 * dense / 8},
  {"3:8 weights and 3:8 data everywhere", 9 * dense / 64},
  {"3:8 weights and 30 % of rows, no propagation", 3 * 0.7 * dense / 8},
  {"2:8 every conv/linear, matmuls dense", 2 * (lin + patch + head) / 8 + mm,
   function() return nm_copy(2, 8, true) end},
  {"2:8 blocks only, rest dense", 2 * lin / 8 + patch + head + mm,
   function() return nm_copy(2, 8, false) end},
  {"2:8 on everything, matmuls too", 2 * dense / 8},
}
print(string.format("dense: %.4f GMACs (paper %.2f GFLOPs, ratio %.4f)", dense / 1e9, P_DENSE,
                    P_DENSE / (dense / 1e9)))
print("| reading | hand GMACs | nmlab GMACs | of dense | vs 1.16 | share vs paper's 0.2544 |")
print("|---|---|---|---|---|---|")
for _, r in ipairs(rows) do
  local v = r[3] and r[3]() or nil
  if v then assert(math.abs(v - r[2]) < 1, r[1] .. ": nmlab " .. v .. " vs hand " .. r[2]) end
  print(string.format("| %s | %.4f | %s | %.4f | %+.1f %% | %+.1f %% |", r[1], r[2] / 1e9,
                      v and string.format("%.4f", v / 1e9) or "-", r[2] / dense,
                      100 * (r[2] / 1e9 / P_NM - 1), 100 * ((r[2] / dense) / (P_NM / P_DENSE) - 1)))
end
-- JointNF-4-0.3 the paper's way: 4:8, 30 % of every layer's rows with the
-- removal propagated (stream width, head dimensions, MLP units all x 0.7)
local j = 0.5 * (0.49 * lin + 0.7 * head) + 0.7 * patch + 0.7 * mm
print(string.format("JointNF-4-0.3, uniform 0.5 x 0.7 x 0.7 (patch conv: 'in' groups of its 3 "
                    .. "channels stay dense, x 0.7 rows; head 4:8 x 0.7 inputs; matmuls x 0.7): "
                    .. "%.4f GMACs, %.4f of dense; paper %.3f "
                    .. "(%+.1f %%), share %.4f (%+.1f %%)", j / 1e9, j / dense, P_JNF,
                    100 * (j / 1e9 / P_JNF - 1), P_JNF / P_DENSE,
                    100 * ((j / dense) / (P_JNF / P_DENSE) - 1)))
print(string.format("paper N:M / JointNF: ViT-base %.3f, ViT-large 4.92 / 4.80 = %.3f; "
                    .. "2:8 / (0.5 x 0.49) = %.3f, 3:8 / (0.5 x 0.49) = %.3f", P_NM / P_JNF,
                    4.92 / 4.80, 0.25 / 0.245, 0.375 / 0.245))
-- ViT-large: the same shapes at width 1024, MLP 4096, 24 blocks (ViT-L/32)
local TL, DL, HL, BL = 50, 1024, 4096, 24
local denseL = 49 * DL * 3 * 32 * 32 + BL * TL * (4 * DL * DL + 2 * DL * HL) + BL * 2 * TL * TL * DL
  + DL * 1000
print(string.format("ViT-L/32 by the same count: dense %.4f GMACs (paper 15.48); paper shares: "
                    .. "N:M 4.92 / 15.48 = %.4f, JointNF 4.80 / 15.48 = %.4f (2:8 would be 0.25, "
                    .. "3:8 0.375)", denseL / 1e9, 4.92 / 15.48, 4.80 / 15.48))
