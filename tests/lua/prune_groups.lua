-- nm.prune.groups and group pruning from Lua: the members of a residual
-- stream through a dwconv listed by hand, allow_add and the first conv,
-- filters removed stream-wide, shrink == masked forward, the heads and
-- group_reduction and normalize options and their errors.
local T = require "nm.test"

-- a (4) -> bn_a -> relu_a -> dw -> b (4, 1x1) -> sum (b + relu_a) -> gap ->
-- flat -> fc (3)
local function stream_model()
  local m = nm.model("stream", {3, 8, 8})
  m:add("conv", "a", {out = 4, k = 3, pad = 1, bias = true})
  m:add("bn", "bn_a"); m:add("relu", "relu_a")
  m:add("dwconv", "dw", {k = 3, pad = 1})
  m:add("conv", "b", {out = 4, k = 1, bias = true})
  m:add("add", "sum", {input = "b", with = "relu_a"})
  m:add("gap", "gap"); m:add("flatten", "flat")
  m:add("linear", "fc", {out = 3})
  m:init_weights(3)
  return m
end

local function input()
  local x = nm.tensor({2, 3, 8, 8})
  local v = 0
  for n = 1, 2 do for c = 1, 3 do for h = 1, 8 do for w = 1, 8 do
    v = (v * 37 + 11) % 101
    x:set(n, c, h, w, v / 50 - 1)
  end end end end
  return x
end

local function members(g)
  local s = {}
  for _, mb in ipairs(g.members) do s[#s + 1] = mb.layer .. ":" .. mb.axis .. ":" .. mb.index end
  return table.concat(s, " ")
end

T.case("a residual stream is one group per channel", function()
  local m = stream_model()
  local gs = nm.prune.groups(m)
  -- four stream channels, then fc's three rows (the graph output)
  T.eq(#gs, 7)
  for c = 1, 4 do
    local g = gs[c]
    T.eq(members(g), string.format("a:out:%d bn_a:norm:%d dw:out:%d b:out:%d b:in:%d fc:in:%d",
                                   c, c, c, c, c, c))
    T.eq(g.rows, 2)
    T.eq(g.residual, true)
    T.eq(g.prunable, false)
    T.eq(g.why, "residual stream (allow_add)")
  end
  T.eq(gs[5].why, "graph output")
  -- with allow_add the first conv follows the stream it feeds
  for c = 1, 4 do T.eq(nm.prune.groups(m, {allow_add = true})[c].prunable, true) end
end)

T.case("filters go stream-wide and shrink computes the masked forward", function()
  local m = stream_model()
  local rep = nm.prune.filters(m, {ratio = 0.5, allow_add = true})
  T.eq(rep.filters_unmet, 0)
  local kept = 0
  for c = 1, 4 do
    local fa = m:layer("a").filters:get(c)
    T.eq(m:layer("b").filters:get(c), fa, "b follows a on channel " .. c)
    T.eq(m:layer("dw").filters:get(c), fa, "dw follows a on channel " .. c)
    T.eq(m:layer("fc").in_chans:get(c), fa, "fc's input " .. c)
    kept = kept + fa
  end
  T.eq(kept, 2)
  local gone = 0
  for _, g in ipairs(nm.prune.groups(m, {allow_add = true})) do
    if g.removed then gone = gone + 1 end
  end
  T.eq(gone, 2)
  local s = m:shrink()
  T.eq(s:layer("a").weight:shape()[1], 2)
  T.eq(s:layer("fc").weight:shape()[2], 2)
  local x = input()
  local y, ys = m:forward(x), s:forward(x)
  T.eq(ys:shape(), y:shape())
  for n = 1, 2 do for k = 1, 3 do
    local a, b = y:get(n, k, 1, 1), ys:get(n, k, 1, 1)
    T.near(b, a, 1e-5 * math.max(1, math.abs(a)))
  end end
end)

T.case("heads and group_reduction options", function()
  local m = stream_model()
  T.raises(function() nm.prune.filters(m, {ratio = 0.2, heads = 1}) end, "no attention")
  T.raises(function() nm.prune.groups(m, {heads = 1}) end, "no attention")
  T.raises(function() nm.prune.jointnf(m, {n = 2, m = 4, heads = 2}) end, "no attention")
  T.eq(m:layer("a").filters, nil, "the model was left as it was")
  T.raises(function() nm.prune.filters(m, {ratio = 0.2, group_reduction = "median"}) end,
           "group_reduction")
  T.raises(function() nm.prune.filters(m, {ratio = 0.2, normalize = "max"}) end, "normalize")
  T.raises(function() nm.prune.jointnf(m, {n = 2, m = 4, normalize = true}) end, "normalize")
  -- sum, mean and max agree when every group has one row
  local chain = require("fixtures").small_cnn(4)
  local keep = {}
  for _, red in ipairs{"mean", "sum", "max"} do
    local c = chain:clone()
    nm.prune.filters(c, {ratio = 0.3, group_reduction = red})
    local s = {}
    for _, name in ipairs{"conv2", "conv3"} do
      local f = c:layer(name).filters
      for i = 1, c:layer(name).weight:shape()[1] do s[#s + 1] = f and f:get(i) or 1 end
    end
    keep[red] = table.concat(s)
  end
  T.eq(#keep.mean:gsub("1", ""), math.floor(0.3 * 28 + 0.5), "round(0.3 * 28) filters go")
  T.eq(keep.sum, keep.mean)
  T.eq(keep.max, keep.mean)
end)

T.case("normalize = 'mean' ranks each layer against its own mean", function()
  -- a (2 rows, mean |w| 1.0 and 1.2) -> b (2 rows, 2 and 10) -> gap ->
  -- flatten -> fc: one of the 4 candidate rows goes. Raw: a's row 1
  -- (1.0). Over the family means (a: 1.1 -> 0.909, 1.091; b: 6 -> 0.333,
  -- 1.667): b's row 1.
  local function net()
    local m = nm.model("two", {1, 4, 4})
    m:add("conv", "a", {out = 2, k = 1})
    m:add("conv", "b", {out = 2, k = 1})
    m:add("gap", "gap"); m:add("flatten", "flat")
    m:add("linear", "fc", {out = 2})
    m:init_weights(1)
    local wa, wb = m:layer("a").weight, m:layer("b").weight
    wa:set(1, 1, 1, 1, 1.0); wa:set(2, 1, 1, 1, -1.2)
    for c = 1, 2 do wb:set(1, c, 1, 1, 2.0); wb:set(2, c, 1, 1, -10.0) end
    return m
  end
  for _, norm in ipairs{"none", "mean"} do
    local m = net()
    nm.prune.filters(m, {ratio = 0.25, include_first = true, normalize = norm})
    local fa, fb = m:layer("a").filters, m:layer("b").filters
    local a1 = fa and fa:get(1) or 1
    local b1 = fb and fb:get(1) or 1
    T.eq(a1, norm == "none" and 0 or 1, norm .. ": a row 1")
    T.eq(b1, norm == "mean" and 0 or 1, norm .. ": b row 1")
  end
end)

T.done()
