-- ReLU6 takes NMReLU: model:set_activation on ReLU6 layers (clip, then
-- N:M), nm.nmrelu{clip=} worked by hand, MobileNet-v2's 35 ReLU6 layers.
local T = require "nm.test"

local function vec(t)
  local x = nm.tensor({1, 1, 1, #t})
  for i, v in ipairs(t) do x:set(1, 1, 1, i, v) end
  return x
end

local function values(x)
  local out = {}
  for i = 1, x:shape()[4] do out[i] = x:get(1, 1, 1, i) end
  return out
end

T.case("nm.nmrelu clip: clip first, then N:M (by hand)", function()
  -- first 2:4: [-1, 7, 3, 8] -> clip [0, 6, 3, 6] -> [0, 6, 3, 0]
  T.eq(values(nm.nmrelu(vec{-1, 7, 3, 8}, {n = 2, m = 4, clip = 6})), {0, 6, 3, 0})
  -- topk 2:4: [6.5, 2, 9, 7] -> clip [6, 2, 6, 6] -> ties to the lower
  -- index: [6, 0, 6, 0]; without the clip the two largest are 9 and 7
  local x = vec{6.5, 2, 9, 7}
  T.eq(values(nm.nmrelu(x, {n = 2, m = 4, policy = "topk", clip = 6})), {6, 0, 6, 0})
  T.eq(values(nm.nmrelu(x, {n = 2, m = 4, policy = "topk"})), {0, 0, 9, 7})
  T.raises(function() nm.nmrelu(x, {n = 2, m = 4, clip = -1}) end, "clip")
end)

T.case("set_activation takes ReLU6 layers and keeps their clip", function()
  local m = nm.model("r6", {2, 4, 4})
  m:add("conv", "c", {out = 2, k = 1})
  m:add("relu", "r6", {clip = 6})
  m:init_weights(1)
  T.eq(m:set_activation("r6", {n = 2, m = 4}), 1)
  T.eq(m:layer("r6").kind, "nmrelu")
  -- data N:M now exists downstream: stats see the NMReLU without an option
  m:add("conv", "d", {out = 2, k = 1})
  local rows = m:stats()
  T.eq(rows[3].act_applied, true); T.eq(rows[3].act_n, 2); T.eq(rows[3].act_m, 4)
  -- back to ReLU: still clipped at 6 (forward of a huge input)
  local path = os.tmpname()
  T.ok(m:save(path))
  local back = nm.load(path)
  os.remove(path)
  T.eq(back:layer("r6").kind, "nmrelu")
  T.eq(back:set_activation("all"), 1)
  T.eq(back:layer("r6").kind, "relu")
  local two = nm.model("r6b", {2, 4, 4})
  two:add("conv", "c", {out = 2, k = 1})
  two:add("relu", "r6", {clip = 6})
  two:init_weights(1)
  two:set_activation("r6", {n = 2, m = 4})
  two:set_activation("r6")
  local y = two:forward(nm.tensor({1, 2, 4, 4}, 1000))
  local mx = 0
  for c = 1, 2 do for i = 1, 4 do for j = 1, 4 do
    mx = math.max(mx, y:get(1, c, i, j))
  end end end
  T.eq(mx, 6)                               -- the clip survived the round trip
  -- a list is checked before anything changes
  T.raises(function() two:set_activation({"r6", "c"}, {n = 2, m = 4}) end, "not a ReLU")
  T.eq(two:layer("r6").kind, "relu")
end)

T.case("MobileNet-v2: all 35 ReLU6 layers take NMReLU 4:9", function()
  local m <close> = nm.zoo("mobilenet_v2", {seed = 1})
  T.eq(m:set_activation("all", {n = 4, m = 9}), 35)
  local applied = 0
  for _, r in ipairs(m:stats()) do
    if r.act_applied then
      applied = applied + 1
      T.eq(r.act_from, "nmrelu"); T.eq(r.act_n, 4); T.eq(r.act_m, 9)
    end
  end
  -- the layers that read a ReLU6 (test_act_source.c counts them by hand)
  T.eq(applied, 35)
  T.eq(m:layer("features.0.2").kind, "nmrelu")
  T.eq(m:set_activation("all"), 35)
  T.eq(m:layer("features.0.2").kind, "relu")
end)

T.done()
