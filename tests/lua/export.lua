-- model:save("x.onnx"), model:shrink(), model:save_masks(): the ways a
-- pruned model leaves nmlab. Outputs are compared with the masked model's
-- own forward pass; the masks file's header is read here by hand.
local T = require "nm.test"

local tmp = os.tmpname()
os.remove(tmp)

-- A fixed pseudo-random input (an LCG, independent of the engine's RNG).
local function input(shape)
  local x = nm.tensor(shape)
  local s = 12345
  for n = 1, shape[1] do for c = 1, shape[2] do for h = 1, shape[3] do for w = 1, shape[4] do
    s = (s * 1103515245 + 12345) % 2147483648
    x:set(n, c, h, w, s / 2147483648 * 2 - 1)
  end end end end
  return x
end

-- The values of a tensor in order, whatever its rank.
local function values(t)
  local out = {}
  local function walk(v)
    if type(v) == "table" then for _, x in ipairs(v) do walk(x) end else out[#out + 1] = v end
  end
  walk(t:totable())
  return out
end

-- Largest |a - b| relative to max(1, max |a|) over two outputs of the same
-- values ([N, C] from an ONNX file, [N, C, 1, 1] from nmlab's own model).
local function rel_diff(a, b)
  local va, vb = values(a), values(b)
  T.eq(#va, #vb)
  T.eq(a:shape()[1], b:shape()[1])
  local big, diff = 1, 0
  for i = 1, #va do
    big = math.max(big, math.abs(va[i]))
    diff = math.max(diff, math.abs(va[i] - vb[i]))
  end
  return diff / big
end

local function pruned_cnn()
  local m = nm.zoo("fmnist_cnn", {seed = 3})
  nm.prune.filters(m, {ratio = 0.3})
  nm.prune.nm(m, {n = 2, m = 4})
  return m
end

T.case("save .onnx, load it back: the same outputs", function()
  local m = pruned_cnn()
  local x = input({2, 1, 28, 28})
  for _, ext in ipairs({".onnx", ".ONNX"}) do
    local path = tmp .. ext
    T.eq(m:save(path), true)
    local f = assert(io.open(path, "rb"))
    local head = f:read(8)
    f:close()
    -- an ONNX ModelProto starts with field 1 (ir_version 7): bytes 08 07
    T.eq(head:sub(1, 2), "\8\7", "not an ONNX file")
    local r, warnings = nm.load(path)
    T.ok(r, warnings)
    T.eq(warnings, nil)
    T.ok(r:layer("conv2"), "layer names survive")
    T.ok(rel_diff(m:forward(x), r:forward(x)) <= 1e-5)
    os.remove(path)
  end
  -- the masked weights are what the file holds: zeros where pruned
  T.eq(m:save(tmp .. ".onnx"), true)
  local r = assert(nm.load(tmp .. ".onnx"))
  os.remove(tmp .. ".onnx")
  for _, row in ipairs(m:stats()) do
    if row.name == "conv2" then
      T.ok(row.nonzeros < row.params)
      T.eq(r:layer("conv2").weight:nnz(), row.nonzeros)
    end
  end
end)

T.case("save .onnx refuses what ONNX cannot say", function()
  local m = nm.zoo("fmnist_cnn")
  m:set_activation("relu1", {n = 2, m = 4})
  local ok, err = m:save(tmp .. "_refused.onnx")
  T.eq(ok, nil)
  T.ok(err:find("relu1", 1, true) and err:find("nmrelu", 1, true), err)
  T.eq(io.open(tmp .. "_refused.onnx"), nil, "a refused export left a file")
  ok, err = nm.zoo("fmnist_cnn"):save("/nonexistent-folder/x.onnx")
  T.eq(ok, nil)
  T.ok(err:find("/nonexistent-folder/x.onnx", 1, true), err)
end)

T.case("shrink: fewer parameters, the same outputs", function()
  local m = pruned_cnn()
  local s = m:shrink()
  T.ok(s.params < m.params, string.format("%d -> %d", m.params, s.params))
  T.eq(#s, #m)
  -- each pruned layer keeps exactly its kept filters
  for i, r in ipairs(m:stats()) do
    if r.filters and r.filters > 0 then T.eq(s:stats()[i].filters, r.filters_kept, r.name) end
  end
  local x = input({3, 1, 28, 28})
  T.ok(rel_diff(m:forward(x), s:forward(x)) <= 1e-5)
  -- the shrunk model is an ordinary model: it saves and reloads
  T.eq(s:save(tmp .. ".safetensors"), true)
  local r = assert(nm.load(tmp .. ".safetensors"))
  T.eq(r.params, s.params)
  os.remove(tmp .. ".safetensors")
end)

T.case("save_masks: u8 masks per pruned layer and its BN", function()
  local m = pruned_cnn()
  local path = tmp .. ".masks.safetensors"
  T.eq(m:save_masks(path), true)
  local f = assert(io.open(path, "rb"))
  local n = string.unpack("<I8", f:read(8))
  local header = f:read(n)
  f:close()
  local want = {}
  local rows = m:stats()
  for i, r in ipairs(rows) do
    if r.params > 0 and r.nonzeros < r.params then want[#want + 1] = r.name .. ".weight_mask" end
    if r.filters and r.filters_kept < r.filters then
      local bn = rows[i + 1]
      if bn and bn.kind == "batchnorm" then
        want[#want + 1] = bn.name .. ".weight_mask"
        want[#want + 1] = bn.name .. ".bias_mask"
      end
      if r.kind == "linear" then want[#want + 1] = r.name .. ".bias_mask" end
    end
  end
  for _, key in ipairs(want) do
    T.ok(header:find('"' .. key .. '"', 1, true), key .. " missing from " .. header)
  end
  local keys = 0
  for _ in header:gmatch('"[^"]+_mask"') do keys = keys + 1 end
  T.eq(keys, #want)
  T.ok(#want > 4)
  T.ok(header:find('"U8"', 1, true))
  os.remove(path)
  local ok, err = m:save_masks("/nonexistent-folder/m.safetensors")
  T.eq(ok, nil)
  T.ok(err:find("/nonexistent-folder/m.safetensors", 1, true), err)
end)

T.done()
