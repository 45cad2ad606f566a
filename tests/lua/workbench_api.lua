-- Lua API rough edges found from the workbench (issue 14): nm.check_nm
-- right after nm.prune.nm with the same options holds; nm.compress of a
-- layer pruned along `in` needs no group; the nm.nmrelu example of
-- docs/lua-api.md runs as written and prints what it says.
local T = require "nm.test"
local small_cnn = require("fixtures").small_cnn

-- Violations counted by hand: groups of the layer's masked weight, along
-- its default axis (kernel for 3x3), with more than n nonzeros.
local function kernel_violations(l, n, m)
  local w, k = l.weight, l.mask
  local sh = w:shape()
  local viol = 0
  for o = 1, sh[1] do
    for c = 1, sh[2] do
      local cnt, pos = 0, 0
      for kh = 1, sh[3] do
        for kw = 1, sh[4] do
          local v = w:get(o, c, kh, kw)
          if k then v = k:get(o, c, kh, kw) ~= 0 and v or 0 end
          cnt = cnt + (v ~= 0 and 1 or 0)
          pos = pos + 1
          if pos % m == 0 or pos == sh[3] * sh[4] then
            if cnt > n then viol = viol + 1 end
            cnt = 0
          end
        end
      end
    end
  end
  return viol
end

T.case("check_nm right after prune.nm with the same N:M holds", function()
  local m = small_cnn(3)
  nm.prune.nm(m, {n = 2, m = 4})
  local ok, viol = nm.check_nm(m, {n = 2, m = 4})
  T.eq(ok, true, "the first conv and the classifier are skipped by both")
  T.eq(viol, 0)
  -- the skipped first conv is still dense: asking to include it counts it,
  -- exactly its own violations (counted by hand)
  local ok2, viol2 = nm.check_nm(m, {n = 2, m = 4, include_first = true})
  T.eq(ok2, false)
  local conv1 = kernel_violations(m:layer("conv1"), 2, 4)
  T.ok(conv1 > 0)
  T.eq(viol2, conv1)
  -- the same options on both sides hold again
  local m2 = small_cnn(3)
  nm.prune.nm(m2, {n = 2, m = 4, include_first = true, include_last = true})
  T.eq((nm.check_nm(m2, {n = 2, m = 4, include_first = true, include_last = true})), true)
  -- a per-layer override is checked at its own N:M
  local m3 = small_cnn(3)
  nm.prune.nm(m3, {n = 2, m = 4, layers = {conv3 = {n = 1, m = 9}}})
  T.eq((nm.check_nm(m3, {n = 2, m = 4, layers = {conv3 = {n = 1, m = 9}}})), true)
  T.eq((nm.check_nm(m3:layer("conv3"), {n = 1, m = 9})), true)
  -- a layer is checked whatever the scope
  T.eq((nm.check_nm(m:layer("conv1"), {n = 2, m = 4})), false)
end)

T.case("compress a layer pruned along in without giving the group again", function()
  local m = small_cnn(5)
  nm.prune.nm(m, {n = 2, m = 4, group = "in"})
  local l = m:layer("conv2")
  local c = nm.compress(l)
  T.eq(c.group, "in")
  T.eq(c.n, 2)
  T.eq(c.m, 4)
  -- decompress gives w * mask, element for element
  local d = nm.decompress(c)
  local sh = l.weight:shape()
  for o = 1, sh[1] do
    for ci = 1, sh[2] do
      for kh = 1, sh[3] do
        for kw = 1, sh[4] do
          local want = l.mask:get(o, ci, kh, kw) ~= 0 and l.weight:get(o, ci, kh, kw) or 0
          T.eq(d:get(o, ci, kh, kw), want)
        end
      end
    end
  end
  -- the default axis (kernel) is used when the mask holds along it
  local m2 = small_cnn(5)
  nm.prune.nm(m2, {n = 2, m = 4})
  T.eq(nm.compress(m2:layer("conv2")).group, "kernel")
end)

T.case("the nm.nmrelu example of docs/lua-api.md runs as written", function()
  local root = os.getenv("NMLAB_SOURCE_ROOT")
  if not root then T.skip("NMLAB_SOURCE_ROOT not set") end
  local f = assert(io.open(root .. "/docs/lua-api.md"))
  local doc = f:read("a")
  f:close()
  local section = doc:match("\n### `nm%.nmrelu%(.-\n(.-)\n###")
  T.ok(section, "the nm.nmrelu section")
  local code, want = {}, {}
  for line in (section .. "\n"):gmatch("(.-)\n") do
    local src = line:match("^    (.*)$")
    if src then
      code[#code + 1] = src
      local out = src:match("%-%->%s*(.-)%s*$")
      if out then want[#want + 1] = out end
    end
  end
  T.ok(#code > 0 and #want > 0, "an example with its output (-->)")
  local printed = {}
  local env = setmetatable({print = function(...)
    local t = table.pack(...)
    for i = 1, t.n do t[i] = tostring(t[i]) end
    printed[#printed + 1] = table.concat(t, "\t")
  end}, {__index = _G})
  local chunk = assert(load(table.concat(code, "\n"), "=lua-api.md", "t", env))
  chunk()
  T.eq(printed, want)
end)

T.done()
