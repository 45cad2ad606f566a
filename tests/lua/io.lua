-- nm.load / model:save: exact round trip, expected failures as nil+message,
-- programming mistakes raising.
local T = require "nm.test"

local tmp = os.tmpname()
os.remove(tmp)
local path = tmp .. ".safetensors"

-- Every weight element of two models, compared one by one.
local function same_weights(a, b)
  T.eq(#a, #b)
  for i = 1, #a do
    local la, lb = a:layer(i), b:layer(i)
    T.eq(la.name, lb.name); T.eq(la.kind, lb.kind)
    T.eq(la.out_shape, lb.out_shape)
    local wa, wb = la.weight, lb.weight
    T.eq(wa == nil, wb == nil, la.name .. " weight presence")
    if wa then
      T.eq(wa:shape(), wb:shape())
      T.eq(wa:totable(), wb:totable(), la.name .. " weights")
    end
  end
end

T.case("round trip is exact", function()
  local m = nm.zoo("fmnist_cnn", {seed = 11})
  -- change some weights so the file must carry them, not the seed
  local w = m:layers()[1].weight
  w:set(1, 1, 1, 1, 0)
  w:set(2, 1, 2, 2, 1234.5)
  T.eq(m:save(path), true)
  local r, warnings = nm.load(path)
  T.ok(r, warnings)
  T.eq(warnings, nil)
  T.eq(r.name, m.name)
  T.eq(r.input, m.input)
  same_weights(m, r)
  T.eq(r:layers()[1].weight:get(2, 1, 2, 2), 1234.5)
  T.eq(r:stats(), m:stats())
  os.remove(path)
end)

T.case("missing and corrupt files return nil and a message", function()
  local m, err = nm.load("/nonexistent-folder/model.safetensors")
  T.eq(m, nil)
  T.ok(err:find("/nonexistent-folder/model.safetensors", 1, true), err)
  local f = assert(io.open(path, "wb"))
  f:write("\16\0\0\0\0\0\0\0{\"a\": broken json")
  f:close()
  m, err = nm.load(path)
  T.eq(m, nil)
  T.ok(type(err) == "string" and #err > 0)
  os.remove(path)
  local ok
  ok, err = nm.zoo("fmnist_cnn"):save("/nonexistent-folder/out.safetensors")
  T.eq(ok, nil)
  T.ok(err:find("/nonexistent-folder/out.safetensors", 1, true), err)
end)

T.case("built models round trip; <close> frees", function()
  local m <close> = nm.model("built", {2, 6, 6})
  m:add("conv", "c1", {out = 3, k = 3})
  m:add("relu", "r1")
  m:add("conv", "c2", {out = 2, k = 1, input = "input"})
  m:init_weights(9)
  T.eq(m:save(path), true)
  local r <close> = nm.load(path)
  same_weights(m, r)
  T.eq(r:layer("c2").inputs, {0})
  os.remove(path)
end)

T.case("SCALE-Sim topology through nm.load", function()
  local shared = os.getenv("NMLAB_SHARED")
  if not shared then T.skip("NMLAB_SHARED unset: ../shared/data/scalesim is not beside the source tree") end
  local csv = shared .. "/data/scalesim/resnet18_nm24.csv"
  -- parse the CSV here, independently of the engine's reader
  local rows = {}
  for line in io.lines(csv) do
    local f = {}
    for field in line:gmatch("([^,]*),") do f[#f + 1] = field:match("^%s*(.-)%s*$") end
    if tonumber(f[2]) then rows[#rows + 1] = f end
  end
  local m, warnings = nm.load(csv)
  T.ok(m, warnings)
  T.eq(#m, #rows)
  for i, f in ipairs(rows) do
    local l = m:layer(i)
    local h, fh, c, k, s = tonumber(f[2]), tonumber(f[4]), tonumber(f[6]), tonumber(f[7]), tonumber(f[8])
    T.eq(l.name, f[1])
    local fw = tonumber(f[5])
    if l.kind == "linear" then        -- a 1x1 "conv" over a 1x1 map is read as FC
      T.eq({h, fh, fw}, {1, 1, 1}, f[1])
      T.eq(l.weight:shape(), {k, c}, f[1])
    else
      T.eq(l.weight:shape(), {k, c, fh, fw}, f[1])
    end
    T.eq(l.out_shape[1], k)
    T.eq(l.out_shape[2], (h - fh) // s + 1, f[1] .. " output height (no padding)")
    T.eq(l:stats().nm, f[9])
  end
end)

T.case("npy round trip, nm.load's hint, bad files", function()
  local npy = tmp .. ".npy"
  -- f32 with values written one by one, read back element by element
  local t = nm.tensor({2, 3}, 0)
  for i = 1, 2 do for j = 1, 3 do t:set(i, j, (i - 1) * 3 + j + 0.25) end end
  T.eq(nm.npy_save(t, npy), true)
  local back = assert(nm.npy_load(npy))
  T.eq(back:shape(), {2, 3})
  T.eq(back:totable(), {{1.25, 2.25, 3.25}, {4.25, 5.25, 6.25}})
  -- other dtypes keep their dtype
  for _, dt in ipairs {"i32", "u8", "i8"} do
    local x = nm.tensor({4}, 7, dt)
    T.eq(nm.npy_save(x, npy), true)
    local y = assert(nm.npy_load(npy))
    T.eq(y:dtype(), dt); T.eq(y:totable(), {7, 7, 7, 7})
  end
  -- nm.load points at nm.npy_load, which exists
  local m, err = nm.load(npy)
  T.eq(m, nil)
  T.ok(err:find("nm.npy_load", 1, true), err)
  T.eq(type(nm.npy_load), "function")
  -- truncated and missing files: nil and a message naming the file
  local f = assert(io.open(npy, "rb")); local bytes = f:read("a"); f:close()
  f = assert(io.open(npy, "wb")); f:write(bytes:sub(1, #bytes - 2)); f:close()
  local r, msg = nm.npy_load(npy)
  T.eq(r, nil); T.ok(msg:find(npy, 1, true), msg)
  os.remove(npy)
  r, msg = nm.npy_load("/nonexistent-folder/x.npy")
  T.eq(r, nil); T.ok(msg:find("/nonexistent-folder/x.npy", 1, true), msg)
  local ok
  ok, msg = nm.npy_save(t, "/nonexistent-folder/x.npy")
  T.eq(ok, nil); T.ok(msg:find("/nonexistent-folder/x.npy", 1, true), msg)
  T.raises(function() nm.npy_save({}, npy) end, "nm.tensor expected")
end)

T.case("wrong arguments raise", function()
  T.raises(function() nm.load({}) end, "bad argument #1 to 'load' (string expected, got table)")
  T.raises(function() nm.load() end, "bad argument #1 to 'load' (string expected, got no value)")
  local m = nm.zoo("fmnist_cnn")
  T.raises(function() m:save() end, "bad argument #1 to 'save' (string expected, got no value)")
  T.raises(function() m.save(nm.tensor {1}, path) end, "nm.model expected, got nm.tensor")
end)

T.done()
