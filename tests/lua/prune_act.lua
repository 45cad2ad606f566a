-- NMReLU, activation density, measured cost, compressed N:M tensors and
-- storage, checked against hand-worked examples and Lua recomputation.
local T = require "nm.test"

math.randomseed(11)
local function rnd() return math.random() + math.random() + math.random() - 1.5 end

-- A [1, 1, 1, L] NCHW tensor holding `v` (position axis = the list order).
local function row(v)
  local t = nm.tensor({1, 1, 1, #v})
  for i, x in ipairs(v) do t:set(1, 1, 1, i, x) end
  return t
end
local function values(t)
  local out = {}
  for i = 1, t:numel() do out[i] = t:get(1, 1, 1, i) end
  return out
end

T.case("NMReLU hand-worked examples (JOINTNF.md section 2)", function()
  -- [3,5,1,2] at 2:4: first keeps the first two positives 3, 5; topk the
  -- two largest 5, 3: the same set here
  T.eq(values(nm.nmrelu(row{3, 5, 1, 2}, {n = 2, m = 4})), {3, 5, 0, 0})
  T.eq(values(nm.nmrelu(row{3, 5, 1, 2}, {n = 2, m = 4, policy = "topk"})), {3, 5, 0, 0})
  -- [1,5,3,-2]: first -> [1,5,0,0]; topk -> [0,5,3,0]
  T.eq(values(nm.nmrelu(row{1, 5, 3, -2}, {n = 2, m = 4, policy = "first"})), {1, 5, 0, 0})
  T.eq(values(nm.nmrelu(row{1, 5, 3, -2}, {n = 2, m = 4, policy = "topk"})), {0, 5, 3, 0})
  -- two windows and a trailing partial one of length 2 (keeps min(N, 2))
  T.eq(values(nm.nmrelu(row{-1, 2, 4, 3, 9, 8, 7, 1, 6, 5}, {n = 2, m = 4, policy = "topk"})),
    {0, 0, 4, 3, 9, 8, 0, 0, 6, 5})
  -- the input is untouched (a new tensor)
  local x = row{1, 5, 3, -2}
  nm.nmrelu(x, {n = 1, m = 4})
  T.eq(values(x), {1, 5, 3, -2})
end)

-- Lua reference of NMReLU along positions of an NCHW tensor.
local function ref_nmrelu(x, n, m, policy)
  local sh = x:shape()
  local B, C, H, W = sh[1], sh[2], sh[3], sh[4]
  local y = {}
  for b = 1, B do for c = 1, C do
    local L = H * W
    for s = 0, L - 1, m do
      local win = {}
      for p = s, math.min(s + m, L) - 1 do
        local v = x:get(b, c, p // W + 1, p % W + 1)
        win[#win + 1] = {p = p, v = v > 0 and v or 0}
      end
      local keep = {}
      if policy == "first" then
        local k = 0
        for _, e in ipairs(win) do
          if e.v > 0 and k < n then keep[e.p] = true; k = k + 1 end
        end
      else
        table.sort(win, function(a, b2) if a.v ~= b2.v then return a.v > b2.v end return a.p < b2.p end)
        for r = 1, math.min(n, #win) do if win[r].v > 0 then keep[win[r].p] = true end end
      end
      for p = s, math.min(s + m, L) - 1 do
        y[#y + 1] = {b, c, p // W + 1, p % W + 1, keep[p] and x:get(b, c, p // W + 1, p % W + 1) or 0}
      end
    end
  end end
  return y
end

T.case("NMReLU on a random NCHW tensor vs a Lua reference; backward; density", function()
  local x = nm.tensor({2, 3, 5, 7})
  for b = 1, 2 do for c = 1, 3 do for h = 1, 5 do for w = 1, 7 do
    x:set(b, c, h, w, rnd())
  end end end end
  for _, pol in ipairs{"first", "topk"} do
    local y = nm.nmrelu(x, {n = 4, m = 9, policy = pol})
    local bad, nz = 0, 0
    for _, e in ipairs(ref_nmrelu(x, 4, 9, pol)) do
      if y:get(e[1], e[2], e[3], e[4]) ~= e[5] then bad = bad + 1 end
      if e[5] ~= 0 then nz = nz + 1 end
    end
    T.eq(bad, 0, pol)
    local d = nm.act_density(y, {n = 4, m = 9})
    T.eq(d.nonzeros, nz); T.eq(d.numel, 210); T.near(d.density, nz / 210)
    T.eq(#d.per_channel, 3)
    -- backward: dy passes only where y kept a value
    local dy = nm.tensor({2, 3, 5, 7}, 2.5)
    local dx = nm.nmrelu_backward(y, dy)
    T.eq(dx:nnz(), nz)
    T.near(dx:get(1, 1, 1, 1), y:get(1, 1, 1, 1) ~= 0 and 2.5 or 0)
  end
  T.raises(function() nm.nmrelu_backward(x, nm.tensor({2, 3})) end, "dy has shape")
  T.raises(function() nm.nmrelu(x, {n = 4, m = 9, policy = "last"}) end, "policy: must be one of")
  T.raises(function() nm.nmrelu(x, {n = 10, m = 9}) end, "n: n:m = 10:9 is impossible")
end)

local function ceil_log2(x) local b = 0 while (1 << b) < x do b = b + 1 end return b end
local function binom(m, n) local c = 1 for i = 0, n - 1 do c = c * (m - i) // (i + 1) end return c end

T.case("compress / decompress round trip, three index schemes", function()
  for _, case in ipairs{{n = 2, m = 4, group = "row", shape = {6, 16}},
                        {n = 4, m = 9, group = "kernel", shape = {5, 3, 3, 3}},
                        {n = 3, m = 8, group = "in", shape = {4, 16, 1, 1}}} do
    local t = nm.tensor(case.shape)
    local numel = t:numel()
    local flatv = {}
    for i = 1, numel do flatv[i] = rnd() end
    -- fill through totable's order: set via a reshaped walk
    local sh = case.shape
    local k = 0
    if #sh == 2 then
      for a = 1, sh[1] do for b = 1, sh[2] do k = k + 1; t:set(a, b, flatv[k]) end end
    else
      for a = 1, sh[1] do for b = 1, sh[2] do for c = 1, sh[3] do for d = 1, sh[4] do
        k = k + 1; t:set(a, b, c, d, flatv[k]) end end end end
    end
    nm.prune.nm(t, {n = case.n, m = case.m, group = case.group})
    local groups = numel // case.m
    for _, scheme in ipairs{"simple", "bitmask", "combinatorial"} do
      local c = nm.compress(t, {n = case.n, m = case.m, group = case.group, index = scheme})
      T.eq(c.groups, groups); T.eq(c.n_values, groups * case.n)
      T.eq(c.value_bits, 8 * groups * case.n)
      local want = scheme == "simple" and groups * case.n * ceil_log2(case.m)
                or scheme == "bitmask" and groups * case.m
                or groups * ceil_log2(binom(case.m, case.n))
      T.eq(c.index_bits, want, scheme)
      T.eq(#c.indices, (want + 7) // 8)
      T.eq(c.values:numel(), c.n_values)
      local d = nm.decompress(c)
      T.eq(d:shape(), t:shape())
      T.eq(d:totable(), t:totable(), scheme .. " " .. case.group)
    end
  end
  T.raises(function() nm.decompress({}) end, "not a table returned by nm.compress")
end)

T.case("compress a layer at its declared N:M (no options): w * mask", function()
  local m = nm.model("s", {8, 3, 3})
  m:add("conv", "c1", {out = 4, k = 1})
  m:add("conv", "c2", {out = 6, k = 1})
  m:init_weights(3)
  local l = m:layer("c2")
  nm.prune.nm(l, {n = 2, m = 4})                 -- 1x1: groups along input channels
  local d = nm.decompress(nm.compress(l))
  for o = 1, 6 do for c = 1, 4 do
    local want = l.mask:get(o, c, 1, 1) ~= 0 and l.weight:get(o, c, 1, 1) or 0
    T.eq(d:get(o, c, 1, 1), want)
  end end
  T.raises(function() nm.compress(m:layer("c1")) end, "has no declared N:M")
end)

T.case("storage: bits per weight from the section 5 formulas", function()
  local m = nm.model("s", {16, 4, 4})
  m:add("conv", "c1", {out = 8, k = 3, pad = 1})
  m:add("conv", "c2", {out = 8, k = 3, pad = 1})
  m:init_weights(1)
  local l = m:layer("c2")
  nm.prune.nm(l, {n = 4, m = 9})
  local s = nm.storage(l, {act = {n = 2, m = 4}})
  local params, groups = 8 * 8 * 9, 8 * 8
  T.eq(s.params, params); T.eq(s.nonzeros, 4 * groups)
  T.near(s.bits_per_weight.simple, (8 * 4 * groups + 4 * groups * 4) / params)
  T.near(s.bits_per_weight.bitmask, (8 * 4 * groups + 9 * groups) / params)
  T.near(s.bits_per_weight.combinatorial, (8 * 4 * groups + 7 * groups) / params)
  T.near(s.ratio.simple, 8 * params / (8 * 4 * groups + 4 * groups * 4))
  -- activations 2:4 at 8 bits: (2*8 + 2*2) / 4 bits per value (simple),
  -- (16 + 4) / 4 (bitmask), (16 + ceil(log2 6) = 3) / 4 (combinatorial)
  T.near(s.act.bits_per_weight.simple, 20 / 4)
  T.near(s.act.bits_per_weight.bitmask, 20 / 4)
  T.near(s.act.bits_per_weight.combinatorial, 19 / 4)
  -- without options: c1 has no N:M (dense, 8 bits, no index), c2 its 4:9
  local all = nm.storage(m)
  T.eq(all.params, 16 * 8 * 9 + params)
  T.eq(all.value_bits, 8 * (16 * 8 * 9) + 8 * 4 * groups)
  T.eq(all.simple_bits, 4 * groups * 4)
  T.eq(nm.storage(m:layer("c1")).ratio.simple, 1.0)
end)

T.case("measured cost counts products of two nonzero operands", function()
  local m = nm.model("s", {2, 3, 3})
  m:add("conv", "c", {out = 2, k = 3, pad = 0})   -- one output position
  m:init_weights(1)
  local l = m:layer("c")
  nm.prune.nm(l, {n = 4, m = 9})
  local x = nm.tensor({1, 2, 3, 3})
  local want = 0
  for c = 1, 2 do for h = 1, 3 do for w = 1, 3 do
    local v = ((c + h + w) % 3 == 0) and 1 or 0
    x:set(1, c, h, w, v)
  end end end
  for o = 1, 2 do for c = 1, 2 do for h = 1, 3 do for w = 1, 3 do
    if l.mask:get(o, c, h, w) ~= 0 and x:get(1, c, h, w) ~= 0 then want = want + 1 end
  end end end end
  T.eq(nm.cost_measured(l, x), want)
end)

T.done()
