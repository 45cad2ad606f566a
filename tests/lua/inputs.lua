-- Models with several graph inputs: model:add_input, model.inputs,
-- model:forward(x1, x2) (and with a table) checked against sums computed
-- here, and the errors that name the input.
local T = require "nm.test"

-- "two": inputs "input" (2, 1, 3) and "b" (2, 1, 3); sum = input + b,
-- prod = input * b, the last layer.
local function build()
  local m = nm.model("two", {2, 1, 3})
  T.eq(m:add_input("b", {2, 1, 3}), 2)
  m:add("add", "sum", {input = "input", with = "b"})
  m:add("relu", "r", {input = "b"})
  m:add("add", "both", {input = "sum", with = "r"})
  return m
end

local function fill(n, f)
  local t = nm.tensor({n, 2, 1, 3})
  for s = 1, n do
    for c = 1, 2 do
      for w = 1, 3 do t:set(s, c, 1, w, f(s, c, w)) end
    end
  end
  return t
end

T.case("inputs and layer producers", function()
  local m = build()
  T.eq(#m.inputs, 2)
  T.eq(m.inputs[1].name, "input")
  T.eq(m.inputs[2].name, "b")
  T.eq(m.inputs[2].shape, {2, 1, 3})
  T.eq(m.input, {2, 1, 3})
  T.eq(m:layer("sum").inputs, {0, -1})
  T.eq(m:layer("r").inputs, {-1})
  T.eq(m:layer("both").inputs, {1, 2})
  T.eq(#nm.zoo("fmnist_cnn").inputs, 1)
  T.raises(function() m:add_input("b", {1, 1, 1}) end, "input name 'b' is used twice")
  T.raises(function() m:add_input("sum", {1, 1, 1}) end, "'sum' is a layer of model 'two'")
  T.raises(function() m:add_input("c", {0, 1, 1}) end, "shape must be three positive integers")
end)

T.case("forward with two inputs matches the sums", function()
  local m = build()
  local a = fill(3, function(s, c, w) return s * 0.5 - c + w * 0.25 end)
  local b = fill(3, function(s, c, w) return (s + c - w) * 0.75 - 1 end)
  local y = m:forward(a, b)
  local y2 = m:forward({a, b})
  T.eq(y:shape(), {3, 2, 1, 3})
  for s = 1, 3 do
    for c = 1, 2 do
      for w = 1, 3 do
        local av, bv = a:get(s, c, 1, w), b:get(s, c, 1, w)
        local want = av + bv + math.max(bv, 0)
        T.near(y:get(s, c, 1, w), want, 1e-6)
        T.near(y2:get(s, c, 1, w), want, 1e-6)
      end
    end
  end
end)

T.case("wrong count, shape or batch names the input", function()
  local m = build()
  local a, b = fill(2, function() return 1 end), fill(2, function() return 2 end)
  T.raises(function() m:forward(a) end, "model 'two' takes 2 input tensor(s)")
  T.raises(function() m:forward({a}) end, "takes 2 input tensor(s)")
  T.raises(function() m:forward(a, b, a) end, "got 3")
  T.raises(function() m:forward(a, nm.tensor({2, 2, 1, 4})) end, "input 'b' (graph input 1)")
  T.raises(function() m:forward(a, fill(3, function() return 0 end)) end,
           "input 'b' of model 'two' has 3 samples but input 'input' has 2")
  T.raises(function() m:forward(a, nm.tensor({2, 2, 1, 3}, 0, "u8")) end,
           "input 'b' must be an f32 tensor")
  T.raises(function() m:forward(a, "b") end, "")
end)

T.case("save .onnx and load keep both inputs; safetensors refuses, shrink keeps them", function()
  local m = build()
  local base = os.tmpname()
  os.remove(base)
  T.eq(m:save(base .. ".onnx"), true)
  local l = assert(nm.load(base .. ".onnx"))
  os.remove(base .. ".onnx")
  T.eq(#l.inputs, 2)
  T.eq(l.inputs[2].name, "b")
  T.eq(l.inputs[2].shape, {2, 1, 3})
  local a = fill(2, function(s, c, w) return s - c * w end)
  local b = fill(2, function(s, c, w) return c - s * 0.5 + w end)
  local y, z = m:forward(a, b), l:forward(a, b)
  for s = 1, 2 do
    for c = 1, 2 do
      for w = 1, 3 do T.near(z:get(s, c, 1, w), y:get(s, c, 1, w), 1e-6) end
    end
  end
  local ok, err = m:save(base .. ".safetensors")
  T.eq(ok, nil)
  T.ok(err:find("safetensors model save: model 'two' has 2 graph inputs ('input', 'b')", 1, true), err)
  -- shrink keeps both inputs (nothing is pruned: the same model)
  local s = m:shrink()
  T.eq(#s.inputs, 2)
  T.eq(s.inputs[2].name, "b")
  local ys = s:forward(a, b)
  for c = 1, 2 do
    for w = 1, 3 do T.near(ys:get(2, c, 1, w), y:get(2, c, 1, w), 1e-6) end
  end
end)

T.case("nm.load sizes every input with {{C, H, W}, ...}", function()
  local base = os.tmpname()
  os.remove(base)
  local path = base .. ".onnx"
  T.eq(nm.zoo("fmnist_cnn"):save(path), true)
  local m = assert(nm.load(path, {input = {{1, 28, 28}}}))
  T.eq(m.inputs[1].shape, {1, 28, 28})
  T.eq(m.inputs[1].name, "input")
  local ok, err = nm.load(path, {input = {{1, 28, 29}}})
  T.eq(ok, nil)
  T.ok(err:find("not 29 as given", 1, true), err)
  T.raises(function() nm.load(path, {input = {{1, 28}}}) end, "each input size must be {C, H, W}")
  T.raises(function() nm.load(path, {input = {{1, 28, 28}, 5}}) end, "input must be {C, H, W} or")
  os.remove(path)
end)

-- Wanda calibration of a two-input model: fc reads flat(input + b), so
-- its input norms are sqrt(sum over samples of (a + b)^2), computed here;
-- 1:2 along each row keeps the larger |w| x norm of every pair.
T.case("calib takes one tensor per input", function()
  local function net()
    local m = nm.model("cal2", {2, 1, 3})
    m:add_input("b", {2, 1, 3})
    m:add("add", "sum", {input = "input", with = "b"})
    m:add("flatten", "flat")
    m:add("linear", "fc", {out = 2})
    local w = {{1.0, 0.9, -0.5, 0.6, 2.0, -1.9}, {-0.3, 0.35, 1.2, -1.1, 0.8, 0.7}}
    for o = 1, 2 do for j = 1, 6 do m:layer("fc").weight:set(o, j, w[o][j]) end end
    return m, w
  end
  -- input b is large on the odd features: wanda keeps those, magnitude
  -- (|w| alone) the even one of the first pair of row 1
  local a = fill(4, function(s, c, w) return 0.1 * (s - 2) + 0.05 * c * w end)
  local b = fill(4, function(s, c, w) return ((c - 1) * 3 + w) % 2 == 1 and (s + w) or 0.01 * s end)
  local norm = {}
  for c = 1, 2 do for w = 1, 3 do
    local q = 0
    for s = 1, 4 do q = q + (a:get(s, c, 1, w) + b:get(s, c, 1, w)) ^ 2 end
    norm[(c - 1) * 3 + w] = math.sqrt(q)
  end end
  local m, w = net()
  nm.prune.nm(m, {n = 1, m = 2, group = "row", include_first = true, include_last = true,
                  score = "wanda", calib = {a, b}})
  local fc, differs = m:layer("fc"), false
  for o = 1, 2 do
    for j = 1, 5, 2 do
      local keep_first = math.abs(w[o][j]) * norm[j] >= math.abs(w[o][j + 1]) * norm[j + 1]
      T.eq(fc.mask:get(o, j), keep_first and 1 or 0, "row " .. o .. " pair " .. j)
      T.eq(fc.mask:get(o, j + 1), keep_first and 0 or 1, "row " .. o .. " pair " .. j)
      if keep_first ~= (math.abs(w[o][j]) >= math.abs(w[o][j + 1])) then differs = true end
    end
  end
  T.ok(differs, "the norms changed some choice")
  -- one tensor, a wrong shape or a dataset for two inputs: errors naming them
  local m2 = net()
  T.raises(function() nm.prune.nm(m2, {n = 1, m = 2, score = "wanda", calib = a}) end,
           "model 'cal2' has 2 graph input(s) ('input', 'b'); the calibration data has 1 tensor(s)")
  T.raises(function() nm.prune.nm(m2, {n = 1, m = 2, score = "wanda", calib = {a, nm.tensor({4, 2, 1, 4})}}) end,
           "calibration batch for input 'b' has shape [4, 2, 1, 4]")
  T.raises(function() nm.prune.nm(m2, {n = 1, m = 2, score = "wanda", calib = {a, fill(3, function() return 1 end)}}) end,
           "has 3 samples but input 'input' has 4")
  T.eq(m2:layer("fc").mask, nil, "the model was left as it was")
end)

-- Groups of a two-input model from Lua: c1 (input) and c2 (input b) meet
-- in an add, so their rows go together; c3's output is added to input b
-- itself, so its rows stay ("model input"), and so do the channels of b
-- that c2 reads (b's channel c is c3's). Filter pruning then shrink
-- computes what the masked model computes on the same two inputs.
T.case("groups, filters and shrink with two inputs", function()
  local function net()
    local m = nm.model("res2", {2, 4, 4})
    m:add_input("b", {4, 4, 4})
    m:add("conv", "c1", {out = 4, k = 3, pad = 1, bias = true})
    m:add("conv", "c2", {input = "b", out = 4, k = 1})
    m:add("add", "s", {input = "c1", with = "c2"})
    m:add("relu", "r")
    m:add("conv", "c3", {out = 4, k = 1, bias = true})
    m:add("add", "g", {input = "c3", with = "b"})
    m:add("gap", "gap"); m:add("flatten", "flat")
    m:add("linear", "fc", {out = 3})
    m:init_weights(9)
    return m
  end
  local m = net()
  local gs = nm.prune.groups(m, {allow_add = true, include_first = true})
  T.eq(#gs, 4 + 4 + 3)
  for c = 1, 4 do
    local got = {}
    for _, mb in ipairs(gs[c].members) do got[#got + 1] = mb.layer .. ":" .. mb.axis .. ":" .. mb.index end
    T.eq(table.concat(got, " "), string.format("c1:out:%d c2:out:%d c3:in:%d", c, c, c))
    T.eq(gs[c].prunable, true)
    got = {}
    for _, mb in ipairs(gs[4 + c].members) do got[#got + 1] = mb.layer .. ":" .. mb.axis .. ":" .. mb.index end
    -- input b's channel c is in it too (the add), so c2 reads it there
    T.eq(table.concat(got, " "), string.format("c2:in:%d c3:out:%d fc:in:%d", c, c, c))
    T.eq(gs[4 + c].prunable, false)
    T.eq(gs[4 + c].why, "model input")
  end
  nm.prune.filters(m, {ratio = 0.25, allow_add = true, include_first = true})
  local k1 = 0
  for c = 1, 4 do
    local f = m:layer("c1").filters
    k1 = k1 + (f and f:get(c) or 1)
    T.eq(m:layer("c2").filters and m:layer("c2").filters:get(c) or 1, f and f:get(c) or 1)
    T.eq(m:layer("c3").filters and m:layer("c3").filters:get(c) or 1, 1, "c3 row " .. c .. " stays")
  end
  T.ok(k1 < 4, "some c1/c2 channel went")
  local sm = m:shrink()
  T.eq(#sm.inputs, 2)
  T.eq(sm:layer("c1").weight:shape(), {k1, 2, 3, 3})
  T.eq(sm:layer("c2").weight:shape(), {k1, 4, 1, 1})
  T.eq(sm:layer("c3").weight:shape(), {4, k1, 1, 1})
  local a = nm.tensor({2, 2, 4, 4})
  local b = nm.tensor({2, 4, 4, 4})
  local v = 3
  for n = 1, 2 do for h = 1, 4 do for w = 1, 4 do
    for c = 1, 2 do v = (v * 37 + 11) % 101; a:set(n, c, h, w, v / 50 - 1) end
    for c = 1, 4 do v = (v * 37 + 11) % 101; b:set(n, c, h, w, v / 50 - 1) end
  end end end
  local y, ys = m:forward(a, b), sm:forward(a, b)
  for n = 1, 2 do for k = 1, 3 do
    local p, q = y:get(n, k, 1, 1), ys:get(n, k, 1, 1)
    T.near(q, p, 1e-5 * math.max(1, math.abs(p)))
  end end
end)

T.done()
