-- Slow (suite slow): global filter ranking on the zoo's ViT-B/32 with the
-- residual stream prunable (allow_add), 30 % of the rows, with and without
-- `normalize = 'mean'`.
--   Candidates: the stream (768 groups of 25 rows: the patch conv, 12
--   out_proj, 12 mlp.3), 12 x 2304 in_proj rows (head dimensions), 12 x
--   3072 MLP units: F = 19200 + 27648 + 36864 = 83712, target
--   round(0.3 F) = 25114 rows.
--   Raw scores (normalize = 'none'): a stream group's mean |w| averages
--   12 mlp.3 rows of fan-in 3072 (Kaiming: half the scale of a fan-in-768
--   row), so every stream group ranks below every other row and the
--   stream is cut to one channel: 30 % of the rows take 99.9 % of the
--   parameters. With 'mean' each family (the stream, each block's head
--   dimensions, each block's MLP units) is divided by its own mean.
-- Checked: the rows removed, the shrunk model's parameter count against
-- a hand count from the kept widths, shrink == masked forward (one image),
-- and, with 'mean', that the stream keeps more than half its width and
-- the parameters removed stay below twice the share of rows removed.
-- Usage: nmlab run tests/lua/vit_normalize.lua [zoo model]
local T = require "nm.test"

local name = arg and arg[1] or "vit_b32"

local function input()
  local x = nm.tensor({1, 3, 224, 224})
  for c = 1, 3 do
    for i = 1, 224, 3 do
      for j = 1, 224, 2 do x:set(1, c, i, j, math.sin(c + i * 0.1 + j * 0.07)) end
    end
  end
  return x
end

-- parameters of the shrunk ViT from the masked model's kept widths
local function hand_params(m)
  local st = m:stats()
  local by = {}
  for _, r in ipairs(st) do by[r.name] = r end
  local cp = by["conv_proj"]
  local w = cp.filters_kept
  local tokens = by["encoder.layers.encoder_layer_0.self_attention.scores"].positions
  local p = w * cp.in_chans * (cp.params // (cp.filters * cp.in_chans)) + w -- patch conv + bias
  p = p + w * (1 + tokens)                                    -- class token + position embeddings
  local blocks = 0
  for _, r in ipairs(st) do
    local blk = r.name:match("^(.*)%.self_attention%.in_proj$")
    if blk then
      blocks = blocks + 1
      local a = r.filters_kept
      local v = by[blk .. ".self_attention.out_proj"].in_chans_kept
      local u = by[blk .. ".mlp.0"].filters_kept
      T.eq(r.in_chans_kept, w, blk .. " in_proj inputs = stream width")
      T.eq(by[blk .. ".mlp.3"].in_chans_kept, u, blk .. " mlp.3 inputs = MLP units")
      p = p + 2 * w + (a * w + a) + (w * v + w) + 2 * w + (u * w + u) + (w * u + w)
    end
  end
  T.eq(blocks, 12)
  return p + 2 * w + by["heads.head"].filters * w + by["heads.head"].filters
end

local F = 768 * 25 + 12 * (2304 + 3072)

local function run(norm)
  local m = nm.zoo(name, {seed = 1})
  local p0 = m.params
  T.eq(hand_params(m), p0, "hand count of the dense model")
  local rep = nm.prune.filters(m, {ratio = 0.3, allow_add = true, normalize = norm})
  T.eq(rep.filters_unmet, 0)
  local gone = 0
  for _, r in ipairs(m:stats()) do
    if (r.kind == "linear" or r.kind == "conv") and r.name ~= "heads.head" then
      gone = gone + r.filters - r.filters_kept
    end
  end
  T.eq(gone, math.floor(0.3 * F + 0.5), "rows removed")
  local width = m:layer("conv_proj").filters
  local w = 0
  for c = 1, 768 do w = w + width:get(c) end
  local want = hand_params(m)
  local s = m:shrink()
  T.eq(s.params, want, "shrunk params = hand count")
  local x = input()
  local y, ys = m:forward(x), s:forward(x)
  local big, diff = 0, 0
  for k = 1, 1000 do
    local a, b = y:get(1, k, 1, 1), ys:get(1, k, 1, 1)
    big, diff = math.max(big, math.abs(a)), math.max(diff, math.abs(a - b))
  end
  T.ok(diff <= 1e-4 * math.max(big, 1e-6), string.format("shrunk vs masked: %g of %g", diff, big))
  print(string.format("%s normalize=%s: rows removed %d of %d (%.3f), stream width %d of 768, "
                      .. "params %.2f M -> %.2f M (%.3f removed), shrunk vs masked %.2g of %.3g",
                      name, norm, gone, F, gone / F, w, p0 / 1e6, s.params / 1e6,
                      1 - s.params / p0, diff, big))
  return w, 1 - s.params / p0
end

T.case(name .. " global filters 0.3, raw scores: the stream collapses", function()
  local w, removed = run("none")
  T.eq(w, 1, "every stream group ranks lowest (fan-in 3072 rows in the mean)")
  T.ok(removed > 0.99, "almost every parameter goes with the stream")
end)

T.case(name .. " global filters 0.3, normalize = 'mean'", function()
  local w, removed = run("mean")
  T.ok(w > 384 and w < 768, "stream width " .. w)
  T.ok(removed > 0.3 and removed < 0.6, "params removed " .. removed)
end)

T.done()
