-- Models built with nm.model/model:add: structure, statistics checked
-- against hand-computed figures, layer views retaining their model.
local T = require "nm.test"

-- A small CNN. Expected figures are computed by hand from the shapes:
--   conv1: 8 filters 3x3 over 3 channels, 16x16 output (pad 1):
--          params 8*3*3*3 = 216, MACs 216 * 256 = 55296
--   pool 2x2 -> 8x8x8; conv2: 4 filters 3x3 over 8 channels, no pad:
--          params 4*8*9 = 288, output 6x6, MACs 288*36 = 10368
--   fc: 4*6*6 = 144 inputs -> 10: params 1440, MACs 1440
local function build()
  local m = nm.model("small", {3, 16, 16})
  m:add("conv", "conv1", {out = 8, k = 3, pad = 1})
  m:add("bn", "bn1")
  m:add("relu", "relu1")
  m:add("maxpool", "pool1", {k = 2})
  m:add("conv", "conv2", {out = 4, k = 3})
  m:add("relu", "relu2")
  m:add("flatten", "flat")
  m:add("linear", "fc", {out = 10})
  m:init_weights(3)
  return m
end

T.case("structure", function()
  local m = build()
  T.eq(#m, 8)
  T.eq(m.name, "small")
  T.eq(m.input, {3, 16, 16})
  local names = {}
  for i, l in ipairs(m:layers()) do
    names[i] = l.name
    T.eq(l.index, i)
  end
  T.eq(names, {"conv1", "bn1", "relu1", "pool1", "conv2", "relu2", "flat", "fc"})
  T.eq(m:layer(5).name, "conv2")
  T.eq(m:layer("conv2").index, 5)
  T.eq(m:layer("conv2"), m:layer(5))
  T.eq(m:layer("pool1").out_shape, {8, 8, 8})
  T.eq(m:layer("conv2").out_shape, {4, 6, 6})
  T.eq(m:layer("conv2").inputs, {4})
  T.eq(m:layer("conv1").inputs, {0})
  T.eq(m:layer("conv1").kind, "conv")
  T.eq(m:layer("fc").kind, "linear")
end)

T.case("stats match hand-computed figures", function()
  local m = build()
  local rows = m:stats()
  T.eq(#rows, 8)
  local c1, c2, fc = rows[1], rows[5], rows[8]
  T.eq(c1.params, 216); T.eq(c1.macs, 55296); T.eq(c1.filters, 8)
  T.eq(c1.weight_shape, "[8, 3, 3, 3]"); T.eq(c1.out_shape, "8x16x16")
  T.eq(c1.in_shape, "3x16x16")
  T.eq(c2.params, 288); T.eq(c2.macs, 10368); T.eq(c2.out_shape, "4x6x6")
  T.eq(fc.params, 1440); T.eq(fc.macs, 1440); T.eq(fc.filters, 10)
  T.eq(rows[2].params, 0); T.eq(rows[2].weight_shape, "")
  T.eq(m.macs, 55296 + 10368 + 1440)
  T.eq(m:layer("conv2"):stats(), c2)
end)

T.case("weights are a live view; stats follow them", function()
  local m = build()
  local l = m:layer("conv1")
  local w = l.weight
  T.eq(w:shape(), {8, 3, 3, 3})
  -- Zero the first filter by hand and count the remaining nonzeros
  -- independently from the weight values themselves.
  for c = 1, 3 do for y = 1, 3 do for x = 1, 3 do w:set(1, c, y, x, 0) end end end
  local nz = 0
  for _, f in ipairs(w:totable()) do
    for _, ch in ipairs(f) do for _, row in ipairs(ch) do for _, v in ipairs(row) do
      if v ~= 0 then nz = nz + 1 end
    end end end
  end
  T.eq(nz, 216 - 27)
  T.eq(l:stats().nonzeros, nz)
  T.near(l:stats().density, nz / 216)
  T.eq(l:stats().sparse_macs, nz * 256)
  T.eq(l.mask, nil)
  T.eq(m:layer("relu1").weight, nil)
end)

T.case("layer views retain the model after it is collected", function()
  local l, w
  do
    local m = build()
    l = m:layer("fc")
    w = m:layer("conv2").weight
  end
  collectgarbage(); collectgarbage()
  T.eq(l.name, "fc")
  T.eq(l.model.name, "small")
  T.eq(#l.model, 8)
  T.eq(l:stats().params, 1440)
  T.eq(w:numel(), 288)
  T.eq(l.model:layer("fc"), l)
end)

T.case("tensor views outlive a freed model", function()
  local m = build()
  local w = m:layer("fc").weight
  local v = w:get(1, 1)
  local l = m:layer("fc")
  m:free()
  T.eq(tostring(m), "nm.model (freed)")
  T.raises(function() return #m end, "model has been freed")
  T.raises(function() return l.name end, "model has been freed")
  T.eq(w:get(1, 1), v)
  T.eq(w:numel(), 1440)
end)

T.case("clone is deep", function()
  local m = build()
  local c = m:clone()
  T.ok(c ~= m)
  c:layer("fc").weight:fill(0)
  T.eq(c:layer("fc"):stats().nonzeros, 0)
  T.ok(m:layer("fc"):stats().nonzeros > 1400)
end)

T.case("errors name the argument", function()
  local m = build()
  T.raises(function() m:layer("nope") end, "no layer named 'nope' in model 'small'")
  T.raises(function() m:layer(9) end, "layer index 9 out of range 1..8")
  T.raises(function() m:layer(0) end, "bad argument #1 to 'layer'")
  T.raises(function() m:layer({}) end, "string expected, got table")
  T.raises(function() m.layers(42) end, "nm.model expected, got number")
  T.raises(function() m:add("conv", "c", {out = 2, input = "missing"}) end, "no layer named 'missing'")
  T.raises(function() m:add("frob", "x") end, "invalid option 'frob'")
  T.raises(function() m:add("conv", "conv1", {out = 2}) end, "model:add conv 'conv1'")
  T.raises(function() nm.model("x", {3, 0, 4}) end, "input shape must be")
end)

T.done()
