-- nm.speedup on ViT-B/32 (slow: 88 M weights to draw): the attention
-- matmuls are listed as skipped with the reason, an MLP linear pruned to
-- 2:4 along its inputs runs and is exact.
local T = require "nm.test"

T.case("vit_b32: attention skipped, linear measured", function()
  local m <close> = nm.zoo("vit_b32", {seed = 1})
  local mm, lin
  for _, l in ipairs(m:layers()) do
    if l.kind == "matmul" and not mm then mm = l.name end
    if l.kind == "linear" and not lin and l.name:find("mlp") then lin = l.name end
  end
  T.ok(mm and lin, "a matmul and an MLP linear")
  nm.prune.nm(m:layer(lin), {n = 2, m = 4})
  local rows, total = nm.speedup(m, {reps = 1, layers = {mm, lin}})
  T.eq(#rows, 2)
  local by = {}
  for _, r in ipairs(rows) do by[r.name] = r end
  T.ok(by[mm].skipped:find("attention matmul"), by[mm].skipped)
  T.eq(by[lin].axis, "in"); T.eq(by[lin].kept, 0.5); T.eq(by[lin].cols, 50)
  T.ok(by[lin].exact)
  T.eq(total.ran, 1); T.eq(total.skipped, 1)
end)

T.done()
