-- score = 'wanda' from Lua: the first conv's masks against N:M of |w| x
-- the input norm computed here by a brute-force im2col over the
-- calibration tensor; a dataset gives the same masks as its tensor;
-- every method accepts it; bad input names the option and leaves the
-- model as it was.
local T = require "nm.test"

-- c1 (4, 3x3, stride 2, pad 1) -> relu -> c2 (6, 3x3, pad 1) -> gap -> flat -> fc (3)
local function model()
  local m = nm.model("wanda", {2, 7, 6})
  m:add("conv", "c1", {out = 4, k = 3, stride = 2, pad = 1, bias = true})
  m:add("relu", "r1")
  m:add("conv", "c2", {out = 6, k = 3, pad = 1})
  m:add("relu", "r2")
  m:add("gap", "gap"); m:add("flatten", "flat")
  m:add("linear", "fc", {out = 3})
  m:init_weights(5)
  return m
end

local N, C, H, W = 3, 2, 7, 6
local function input()
  local x = nm.tensor({N, C, H, W})
  local v = 1
  for n = 1, N do for c = 1, C do for h = 1, H do for w = 1, W do
    v = (v * 48271) % 2147483647
    x:set(n, c, h, w, (v % 2001) / 1000 - 1)
  end end end end
  return x
end

-- im2col row norms of c1 (3x3, stride 2, pad 1) over x, by hand:
-- norm[c][i][j] = sqrt(sum over n, oy, ox of x[n, c, 2oy - 1 + i, 2ox - 1 + j]^2)
local function c1_norms(x)
  local OH, OW = (H + 2 - 3) // 2 + 1, (W + 2 - 3) // 2 + 1
  local nr = {}
  for c = 1, C do
    nr[c] = {}
    for i = 0, 2 do
      nr[c][i] = {}
      for j = 0, 2 do
        local s = 0
        for n = 1, N do for oy = 0, OH - 1 do for ox = 0, OW - 1 do
          local y, xx = 2 * oy - 1 + i, 2 * ox - 1 + j
          if y >= 0 and y < H and xx >= 0 and xx < W then
            local v = x:get(n, c, y + 1, xx + 1)
            s = s + v * v
          end
        end end end
        nr[c][i][j] = math.sqrt(s)
      end
    end
  end
  return nr
end

local function mask_list(l)
  local t, k = {}, l.mask
  for o = 1, 4 do for c = 1, C do for i = 1, 3 do for j = 1, 3 do
    t[#t + 1] = k:get(o, c, i, j)
  end end end end
  return t
end

T.case("wanda N:M on the first conv is N:M of |w| x the im2col norm", function()
  local x = input()
  local nr = c1_norms(x)
  for _, nm_ in ipairs({{2, 4}, {4, 9}, {3, 9}}) do
    local m = model()
    local w = m:layer("c1").weight:clone()
    for o = 1, 4 do for c = 1, C do for i = 1, 3 do for j = 1, 3 do
      w:set(o, c, i, j, w:get(o, c, i, j) * nr[c][i - 1][j - 1])
    end end end end
    -- N:M on the hand-scaled tensor (kernel groups: the default for 3x3)
    nm.prune.nm(w, {n = nm_[1], m = nm_[2]})
    local ref = m:clone()
    nm.prune.nm(m, {n = nm_[1], m = nm_[2], include_first = true, score = "wanda", calib = x})
    local got, want = mask_list(m:layer("c1")), {}
    for o = 1, 4 do for c = 1, C do for i = 1, 3 do for j = 1, 3 do
      want[#want + 1] = w:get(o, c, i, j) ~= 0 and 1 or 0
    end end end end
    T.eq(got, want, nm_[1] .. ":" .. nm_[2])
    -- weights untouched
    local a, b = m:layer("c2").weight, ref:layer("c2").weight
    for k = 1, 3 do T.eq(a:get(k, 1, 1, 1), b:get(k, 1, 1, 1)) end
    T.eq(m:layer("c1").weight:get(1, 1, 1, 1), ref:layer("c1").weight:get(1, 1, 1, 1))
    -- a magnitude run differs somewhere
    nm.prune.nm(ref, {n = nm_[1], m = nm_[2], include_first = true})
    local diff = false
    for _, name in ipairs({"c1", "c2"}) do
      local ka, kb = m:layer(name).mask, ref:layer(name).mask
      for o = 1, m:layer(name).weight:shape()[1] do
        for c = 1, m:layer(name).weight:shape()[2] do
          for i = 1, 3 do for j = 1, 3 do
            if ka:get(o, c, i, j) ~= kb:get(o, c, i, j) then diff = true end
          end end
        end
      end
    end
    T.ok(diff, "wanda and magnitude masks differ")
  end
end)

T.case("a dataset gives the tensor's masks; calib_n takes its first samples", function()
  local x = input()
  local labels = nm.tensor({N}, 0, "i32")
  local d = nm.data.from_tensors(x, labels, 3)
  local a, b = model(), model()
  nm.prune.nm(a, {n = 2, m = 4, score = "wanda", calib = x})
  nm.prune.nm(b, {n = 2, m = 4, score = "wanda", calib = d})
  T.eq(a:layer("c1").mask, nil)   -- first conv skipped
  local ka, kb = a:layer("c2").mask, b:layer("c2").mask
  for o = 1, 6 do for c = 1, 4 do for i = 1, 3 do
    T.eq(ka:get(o, c, i, 1), kb:get(o, c, i, 1))
  end end end
  local c = model()
  nm.prune.nm(c, {n = 2, m = 4, score = "wanda", calib = d, calib_n = 1})
  T.ok(c:layer("c2").mask:nnz() == a:layer("c2").mask:nnz())
end)

T.case("every method takes score = 'wanda'", function()
  local x = input()
  local m = model()
  nm.prune.global(m, {sparsity = 0.5, score = "wanda", calib = x})
  T.eq(m:layer("c2").mask:nnz(), 6 * 4 * 9 // 2)   -- c2 is the only eligible layer
  m = model()
  nm.prune.magnitude(m, {sparsity = 0.5, score = "wanda", calib = x})
  T.eq(m:layer("c2").mask:nnz(), 6 * 4 * 9 // 2)
  m = model()
  nm.prune.magnitude(m:layer("c2"), {sparsity = 0.25, score = "wanda", calib = x})
  T.eq(m:layer("c2").mask:nnz(), 6 * 4 * 9 - 54)
  m = model()
  nm.prune.filters(m, {ratio = 0.5, score = "wanda", calib = x, include_first = true})
  T.eq(m:layer("c1"):stats().filters_kept + m:layer("c2"):stats().filters_kept, 5)
  m = model()
  local rep = nm.prune.jointnf(m, {n = 2, m = 4, filters = 0.25, rounds = 2, score = "wanda", calib = x})
  T.ok(rep.filters_unmet == 0)
end)

T.case("bad input names the option and leaves the model", function()
  local m = model()
  T.raises(function() nm.prune.nm(m, {n = 2, m = 4, score = "wanda"}) end, "calib")
  T.raises(function() nm.prune.nm(m, {n = 2, m = 4, calib = input()}) end,
           "calib")
  T.raises(function() nm.prune.nm(m, {n = 2, m = 4, score = "wanda", calib = nm.tensor({2, 1, 7, 6})}) end,
           "shape [2, 1, 7, 6]")
  T.raises(function() nm.prune.jointnf(m, {n = 2, m = 4, score = "wanda", calib = nm.tensor({2, 2, 6, 7})}) end,
           "[N, 2, 7, 6]")
  T.raises(function() nm.prune.filters(m, {ratio = 0.5, score = "wanda", calib = 3}) end, "calib")
  T.raises(function() nm.prune.nm(m:layer("c1").weight:clone(), {n = 2, m = 4, score = "wanda", calib = input()}) end,
           "score")
  for _, l in ipairs(m:layers()) do T.eq(l.mask, nil, l.name) end
end)

T.done()
