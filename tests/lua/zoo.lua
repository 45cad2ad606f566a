-- nm.zoo: the built-in networks, checked against figures computed from the
-- published architectures (torchvision ResNet-18), not from nmlab itself.
local T = require "nm.test"

T.case("list and describe", function()
  local names = {}
  for _, n in ipairs(nm.zoo_list()) do names[n] = true end
  T.ok(names.resnet18 and names.fmnist_cnn, "resnet18 and fmnist_cnn are listed")
  T.ok(nm.zoo_describe("resnet18"):find("ResNet", 1, true))
  T.eq(nm.zoo_describe("nope"), "")
end)

T.case("resnet18 matches torchvision's shapes and counts", function()
  local m = nm.zoo("resnet18")
  T.eq(m.name, "resnet18")
  T.eq(m.input, {3, 224, 224})
  local conv1 = m:layer("conv1")
  T.eq(conv1.weight:shape(), {64, 3, 7, 7})
  T.eq(conv1.out_shape, {64, 112, 112})
  local s = conv1:stats()
  T.eq(s.params, 64 * 3 * 7 * 7)
  T.eq(s.macs, 64 * 3 * 7 * 7 * 112 * 112)
  T.eq(m:layer("layer4.1.conv2").weight:shape(), {512, 512, 3, 3})
  T.eq(m:layer("fc"):stats().params, 512 * 1000)
  T.eq(m:layer("fc").out_shape, {1000, 1, 1})
  -- torchvision: 11,689,512 parameters (weights, biases, BN affine)
  T.eq(m.params, 11689512)
  -- about 1.82 GMACs per image
  T.ok(m.macs > 1.80e9 and m.macs < 1.83e9, "MACs " .. m.macs)
end)

T.case("seeds are deterministic", function()
  local a = nm.zoo("fmnist_cnn", {seed = 5})
  local b = nm.zoo("fmnist_cnn", {seed = 5})
  local c = nm.zoo("fmnist_cnn", {seed = 6})
  local function first_weights(m)
    local w = m:layers()[1].weight
    local out = {}
    for i = 1, math.min(8, w:shape()[1]) do out[i] = w:get(i, 1, 1, 1) end
    return out
  end
  T.eq(first_weights(a), first_weights(b))
  local same = true
  local wa, wc = first_weights(a), first_weights(c)
  for i = 1, #wa do if wa[i] ~= wc[i] then same = false end end
  T.ok(not same, "another seed gives other weights")
end)

T.case("errors", function()
  T.raises(function() nm.zoo("nope") end, "no zoo model 'nope'")
  T.raises(function() nm.zoo("resnet18", {seed = "x"}) end, "seed must be an integer")
  T.raises(function() nm.zoo() end, "bad argument #1 to 'zoo' (string expected, got no value)")
end)

T.done()
