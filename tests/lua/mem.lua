-- Loaders and builders reserve against --mem-limit before allocating (run
-- with --mem-limit 64M; issue 13). Each refusal raises "not enough memory"
-- naming the file or model, the bytes and the limit, and the engine's byte
-- counter (nm.memory) shows nothing was allocated for it. Missing or
-- corrupt files still return nil, message. Limited data sets read only
-- what they need.
local T = require "nm.test"

local LIMIT = 64 * 1024 * 1024
local base = os.tmpname()
os.remove(base)
local dir = base .. "-mem"
assert(os.execute("mkdir -p '" .. dir .. "'"))

-- Runs f protected; returns ok, result or error, and the engine bytes the
-- call held at its peak beyond what was held before.
local function measured(f)
  collectgarbage()
  nm.memory_reset_peak()
  local before = nm.memory().engine
  local ok, r = pcall(f)
  return ok, r, nm.memory().engine_peak - before
end

local function write(path, bytes)
  local f = assert(io.open(path, "wb"))
  f:write(bytes)
  f:close()
end

T.case("nm.memory counts engine tensors", function()
  local m0 = nm.memory()
  T.ok(m0.engine >= 0 and m0.engine_peak >= m0.engine and m0.lua > 0)
  local t = nm.tensor({1000, 1000})                       -- 4 MB
  T.eq(nm.memory().engine - m0.engine, 4000000)
  t:free()
  T.eq(nm.memory().engine, m0.engine)
end)

T.case("nm.zoo refuses vgg16 before building it", function()
  local ok, err, grew = measured(function() return nm.zoo("vgg16") end)
  T.ok(not ok, "vgg16 loaded under 64M")
  T.ok(err:find("vgg16: not enough memory", 1, true), err)
  T.ok(err:find("553430176", 1, true) and err:find(tostring(LIMIT), 1, true), err)
  T.eq(grew, 0, "engine bytes allocated before the refusal")
  local m = nm.zoo("fmnist_cnn")                           -- a model that fits still loads
  T.ok(#m > 0)
  m:free()
end)

T.case("nm.load refuses a 126-byte topology asking for 1 GiB of weights", function()
  local csv = dir .. "/big.csv"
  write(csv, "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, " ..
             "Num Filter, Strides,\nbig,1,1,1,1,16384,16384,1,\n")
  local ok, err, grew = measured(function() return nm.load(csv) end)
  T.ok(not ok, "nm.load returned instead of raising")
  T.ok(err:find("big.csv: 268435456 synthetic weights: not enough memory", 1, true), err)
  T.ok(err:find("1073741824", 1, true) and err:find(tostring(LIMIT), 1, true), err)
  T.eq(grew, 0)
  os.remove(csv)
end)

T.case("nm.npy_load refuses a 128 MiB array before allocating it", function()
  local npy = dir .. "/big.npy"
  local n = 32 * 1024 * 1024
  local dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (" .. n .. ",), }"
  local hlen = 64 * math.ceil((10 + #dict + 1) / 64) - 10
  local f = assert(io.open(npy, "wb"))
  f:write("\x93NUMPY\1\0", string.pack("<I2", hlen), dict, string.rep(" ", hlen - #dict - 1), "\n")
  f:seek("set", 10 + hlen + 4 * n - 1)                     -- sparse: the data are all there
  f:write("\0")
  f:close()
  local ok, err, grew = measured(function() return nm.npy_load(npy) end)
  T.ok(not ok, "nm.npy_load returned instead of raising")
  T.ok(err:find("big.npy: not enough memory", 1, true), err)
  T.ok(err:find("134217728", 1, true) and err:find(tostring(LIMIT), 1, true), err)
  T.eq(grew, 0)
  os.remove(npy)
end)

T.case("missing and corrupt files still return nil, message", function()
  local m, err = nm.load(dir .. "/none.csv")
  T.eq(m, nil)
  T.ok(err:find("none.csv", 1, true), err)
  local t, err2 = nm.npy_load(dir .. "/none.npy")
  T.eq(t, nil)
  T.ok(err2:find("none.npy", 1, true), err2)
end)

-- IDX header: magic, type 0x08, dims, then the dims big-endian.
local function idx(dims, data)
  local parts = {"\0\0\8", string.char(#dims)}
  for _, d in ipairs(dims) do parts[#parts + 1] = string.pack(">I4", d) end
  parts[#parts + 1] = data
  return table.concat(parts)
end

T.case("a data set declaring a million images reads only `limit` of them", function()
  local px = {}
  for i = 0, 20 * 784 - 1 do px[#px + 1] = string.char(i * 7 % 251) end
  local lab = {}
  for i = 0, 19 do lab[#lab + 1] = string.char(i % 10) end
  -- uncompressed files (nm.data also reads these) declaring 1 000 000
  -- images (784 MB) but holding 20
  write(dir .. "/train-images-idx3-ubyte", idx({1000000, 28, 28}, table.concat(px)))
  write(dir .. "/train-labels-idx1-ubyte", idx({1000000}, table.concat(lab)))
  local ok, d, grew = measured(function() return nm.data.fashion_mnist{dir = dir, limit = 10} end)
  T.ok(ok, d)
  T.eq(#d, 10)
  T.eq(d:label(4), 3)
  T.ok(grew <= 10 * 784 * 5 + 10 * 5, "held " .. grew .. " bytes for 10 images")
  local img = d:image(1)
  T.near(img:get(1, 1, 2), (7 / 255 - 0.2860) / 0.3530, 1e-5)
  -- without a limit all million are reserved up front: refused
  local ok2, err, grew2 = measured(function() return nm.data.fashion_mnist{dir = dir} end)
  T.ok(not ok2)
  T.ok(err:find("train-images-idx3-ubyte: not enough memory", 1, true), err)
  T.eq(grew2, 0)
  os.remove(dir .. "/train-images-idx3-ubyte")
  os.remove(dir .. "/train-labels-idx1-ubyte")
end)

T.case("model:forward keeps its buffers, counted in nm.memory, freed with the model", function()
  collectgarbage()
  local e0 = nm.memory().engine
  local m = nm.zoo("fmnist_cnn")
  local e_model = nm.memory().engine
  local x = nm.tensor({4, 1, 28, 28})
  local y1 = m:forward(x)
  local e_kept = nm.memory().engine
  T.ok(e_kept > e_model + y1:numel() * 4, "no kept buffers counted")
  local y2 = m:forward(x)                     -- the same buffers serve the second call
  T.eq(nm.memory().engine, e_kept + y2:numel() * 4)
  for s = 1, 4 do for k = 1, 10 do T.eq(y1:get(s, k, 1, 1), y2:get(s, k, 1, 1)) end end
  y1:free(); y2:free(); x:free()
  m:free()
  T.eq(nm.memory().engine, e0, "the model's kept buffers were not freed with it")
end)

T.case("model:forward runs a batch too big for the limit in smaller passes", function()
  local m = nm.zoo("fmnist_cnn")
  local x = nm.tensor({300, 1, 28, 28})       -- 256 samples at once need ~72 MB here
  for s = 1, 300, 7 do for h = 1, 28, 3 do x:set(s, 1, h, h, (s % 13) / 13) end end
  local y = m:forward(x)
  T.eq(y:shape()[1], 300)
  -- sample 295 alone gives the same answer as in the batch
  local one = nm.tensor({1, 1, 28, 28})
  for h = 1, 28 do for w = 1, 28 do one:set(1, 1, h, w, x:get(295, 1, h, w)) end end
  local y1 = m:forward(one)
  for k = 1, 10 do T.near(y1:get(1, k, 1, 1), y:get(295, k, 1, 1), 1e-5) end
  y:free(); y1:free(); one:free(); x:free(); m:free()
end)

os.execute("rmdir '" .. dir .. "'")
T.done()
