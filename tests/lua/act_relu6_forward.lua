-- NMReLU with a clip (a ReLU6 turned NMReLU) in model:forward and in
-- training: clip, then N:M. Needs engine/train/net.c to call
-- nm_train_nmrelu_forward_clip / nm_train_nmrelu_backward_clip with l->clip
-- (registered in tests/lua/meson.build once it does).
local T = require "nm.test"

T.case("forward: clip, then N:M, as nm.nmrelu{clip=} gives", function()
  -- identity 1x1 conv (weight 1) on one channel of 1x8: the NMReLU sees x
  local m = nm.model("f", {1, 1, 8})
  m:add("conv", "c", {out = 1, k = 1})
  m:add("relu", "r6", {clip = 6})
  m:layer("c").weight:set(1, 1, 1, 1, 1)
  m:set_activation("r6", {n = 2, m = 4, policy = "topk"})
  local x = nm.tensor({1, 1, 1, 8})
  local v = {6.5, 2, 9, 7, 1, 5, 0.5, -3}
  for i = 1, 8 do x:set(1, 1, 1, i, v[i]) end
  local y = m:forward(x)
  local want = {6, 0, 6, 0, 1, 5, 0, 0}     -- by hand (test_relu6_nm.c)
  for i = 1, 8 do T.eq(y:get(1, 1, 1, i), want[i], "y[" .. i .. "]") end
  local ref = nm.nmrelu(x, {n = 2, m = 4, policy = "topk", clip = 6})
  for i = 1, 8 do T.eq(y:get(1, 1, 1, i), ref:get(1, 1, 1, i)) end
end)

T.done()
