-- nm.zoo("vit_b16"):forward on one 224x224 image (suite slow: 86.6 M
-- weights to draw, 17.6 GMACs). The numbers are checked against a
-- reference at a small size in tests/train/test_vit_forward.c; here the
-- script path: shape, finite logits that differ by class.
local T = require "nm.test"

T.case("vit_b16 forward", function()
  local m = nm.zoo("vit_b16")
  local x = nm.tensor({1, 3, 224, 224})
  for c = 1, 3 do
    for i = 1, 224, 7 do
      for j = 1, 224, 5 do x:set(1, c, i, j, math.sin(c + i * 0.1 + j * 0.07)) end
    end
  end
  local y = m:forward(x)
  T.eq(y:shape(), {1, 1000, 1, 1})
  local lo, hi = math.huge, -math.huge
  for k = 1, 1000 do
    local v = y:get(1, k, 1, 1)
    T.ok(v == v and v > -math.huge and v < math.huge, "logit " .. k .. " is " .. v)
    lo, hi = math.min(lo, v), math.max(hi, v)
  end
  T.ok(hi - lo > 1e-3, "logits differ by class")
end)

T.done()
