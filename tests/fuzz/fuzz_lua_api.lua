-- fuzz_lua_api.lua - the interpreter of fuzz_lua_api.c: reads the fuzz
-- input (global FUZZ_INPUT, a byte string) as a short program of calls into
-- the `nm` API and runs each under pcall. An error is the expected outcome
-- of most calls; only a crash, a sanitizer report, a leak, a hang or a huge
-- allocation is a finding (the C side and libFuzzer see those).
--
-- Program: up to MAX_OPS operations; each starts with an opcode byte:
--   0 call nm.* function   1 call a method of a pool object
--   2 index a pool object  3 assign into a pool object
--   4 drop a pool slot and collect garbage   5 free/close a pool object
--   6 metamethods (#, tostring, ==, ..)      7 make a fresh small model
-- An input starting with "--lua" is run as Lua source instead (see the end).
-- Arguments come from the following bytes (see value()). Results that are
-- userdata or tables go into the object pool, so later calls can reuse them,
-- pass them where another type is expected, or use them once freed.
local input, TMP = FUZZ_INPUT, FUZZ_TMP
local pos, MAX_OPS, MAX_ARGS, POOL = 1, 24, 4, 12

local function byte()
  local b = input:byte(pos)
  pos = pos + 1
  return b or 0
end
local function more() return pos <= #input end
local function pick(list) return list[byte() % #list + 1] end

local numbers = {0, 1, 2, 3, 4, 8, 16, 28, -1, -2, 0.5, 0.25, 1.5, 100, 1000, 65536,
  1e308, -1e308, 0 / 0, 1 / 0, -1 / 0, 1e-300, math.maxinteger, math.mininteger,
  2 ^ 31, 2 ^ 31 - 1, -2 ^ 31, 2 ^ 32, 2 ^ 53, 2 ^ 63, 1e9, 7}
local strings = {"", "x", "conv1", "fc", "input", "relu1", "magnitude", "wanda", "l1", "bn",
  "paper", "2:4", "first", "topk", "position", "channel", "kept", "simple", "bitmask",
  "combinatorial", "f32", "i8", "u8", "i32", "fmnist_cnn", "fmnist_resnet", "nope",
  "conv", "linear", "relu", "gap", "flatten", "maxpool", "add", "bn", "dwconv", "pmac",
  "bmac", "nm-4-4", "nm:2:4:2:4", "ok", "min", "max", "mean", "none", "test", "train",
  "3", "0.5", "\0", string.rep("a", 300), "/etc/passwd", "../x",
  TMP, TMP .. "/m.safetensors", TMP .. "/m.onnx", TMP .. "/t.npy", TMP .. "/p.png",
  TMP .. "/r.db", TMP .. "/masks.bin", TMP .. "/no/such/dir/x.png", TMP .. "/m.csv"}
local keys = {"n", "m", "group", "layers", "include_first", "include_last", "score", "calib",
  "calib_n", "preset", "ratio", "sparsity", "global", "allow_add", "max_sparsity",
  "min_density", "heads", "u", "seed", "out", "k", "stride", "pad", "groups", "bias",
  "input", "with", "clip", "batch", "reps", "array", "equal_area", "isa", "clock", "index",
  "act", "view", "rows", "cols", "mac", "values", "mask", "x", "series", "header", "status",
  "by", "axis", "policy", "declare", "rounds", "filters", "on_round", "progress", "finetune",
  "budget", "assume", "ymax", "title", "dpi", "cell", "width", "height", "labels", "name",
  "limit", "dir", "split", "epochs", "lr", "d", "w", "data", "weights", "normalize",
  "group_reduction", "vmin", "vmax", "ramp", "markers", "value_labels", 1, 2, 3}

-- Plausible option tables, so calls get past the argument checks; value()
-- then changes some of their fields to anything.
local templates = {
  {n = 2, m = 4}, {n = 1, m = 4, group = 2}, {n = 2, m = 4, score = "wanda"},
  {n = 2, m = 4, preset = "paper"}, {n = 2, m = 4, rounds = 1, filters = 0.25},
  {ratio = 0.5}, {ratio = 0.25, global = false}, {sparsity = 0.5}, {n = 2, m = 4, u = 1},
  {mac = "pmac", rows = 4}, {mac = "nm", d = {2, 4}, w = {2, 4}, rows = 4},
  {mac = "bmac", rows = 4, cols = 2}, {E = 4, K = 8, Nf = 4}, {batch = 1, reps = 1, array = 4},
  {groups = {"a", "b"}, series = {{name = "s", values = {1, 2}}}},
  {x = {1, 2, 3}, series = {{name = "s", values = {1, 2, 3}}}},
  {values = {{1, 2}, {3, 4}}}, {header = {"a", "b"}, rows = {{"1", "2"}}},
  {n = 2, m = 4, index = "bitmask"}, {n = 2, m = 4, act = {n = 2, m = 4}},
  {n = 2, m = 4, axis = "channel", policy = "topk"}, {seed = 3}, {out = 4, k = 3, pad = 1},
  {view = "magnitude"}, {title = "t", dpi = 50, width = 2, height = 2},
}

local function deep_copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = type(v) == "table" and deep_copy(v) or v end
  return c
end

local pool = {}        -- slot -> value (may hold nil after a drop)
local depth = 0        -- nesting of value() and of callbacks
local step             -- one operation (defined below), callbacks run it too

local function from_pool()
  return pool[byte() % POOL + 1]
end

-- One argument: nil, booleans, numbers, strings, pool objects, option
-- tables with random keys, arrays, shapes, or a callback that runs a
-- further operation (which may free the object the caller is using).
local function value()
  local k = byte() % 12
  if depth > 3 then k = k % 6 end
  if k == 0 and depth <= 3 and byte() % 2 == 0 then k = 11 end   -- fewer nils, more options
  if k == 0 then return nil
  elseif k == 1 then return byte() % 2 == 0
  elseif k == 2 then return pick(numbers)
  elseif k == 3 then return byte() - 8
  elseif k == 4 then return pick(strings)
  elseif k == 5 then return from_pool()
  end
  depth = depth + 1
  local v
  if k == 6 or k == 7 then           -- option table
    v = {}
    for _ = 1, byte() % 5 do v[pick(keys)] = value() end
  elseif k == 8 then                 -- array
    v = {}
    for i = 1, byte() % 5 do v[i] = value() end
  elseif k == 9 then                 -- a shape of small sizes
    v = {}
    for i = 1, byte() % 4 + 1 do v[i] = byte() % 6 end
  elseif k == 11 and byte() % 4 ~= 0 then   -- a template, fields changed
    v = deep_copy(pick(templates))
    for _ = 1, byte() % 3 do v[pick(keys)] = value() end
    if byte() % 4 == 0 then
      -- absent fields come from __index as fresh strings or numbers that
      -- nothing else holds (nm.sim.format_compare freed such a string)
      local salt = byte()
      setmetatable(v, {__index = function(_, key)
        if salt % 2 == 0 then return tostring(key) .. salt end
        return salt - 8
      end})
    end
  elseif k == 10 then                -- callback
    local d = depth
    v = function(...)
      if d < 3 and more() then
        depth = d + 1
        step()
        depth = d
      end
      return byte() % 2 == 0
    end
  else
    v = {value(), x = value()}
  end
  depth = depth - 1
  return v
end

local function args()
  local a, n = {}, byte() % (MAX_ARGS + 1)
  for i = 1, n do a[i] = value() end
  return a, n
end

-- FUZZ_TRACE (set by FUZZ_LUA_VERBOSE=2): print each call and its outcome
local function trace(...)
  if FUZZ_TRACE then
    local t = table.pack(...)
    for i = 1, t.n do t[i] = type(t[i]) == "string" and ("%q"):format(t[i]):sub(1, 120) or tostring(t[i]) end
    io.stderr:write(table.concat(t, " ", 1, t.n), "\n")
  end
end

local function keep(ok, ...)
  trace("  ->", ok, ...)
  if not ok then return end
  for i = 1, select("#", ...) do
    local r = select(i, ...)
    local t = type(r)
    if t == "userdata" or t == "table" then pool[byte() % POOL + 1] = r end
  end
end

-- The nm functions, by sorted name (nm.X and nm.sub.X); test aids left out.
local functions, fnames = {}, {}
do
  local skip = {_cancel_after = true}
  local names = {}
  for k, v in pairs(nm) do
    if type(v) == "function" and not skip[k] then
      names[#names + 1] = {"nm." .. k, v}
    elseif type(v) == "table" then
      for k2, v2 in pairs(v) do
        if type(v2) == "function" then names[#names + 1] = {"nm." .. k .. "." .. k2, v2} end
      end
    end
  end
  table.sort(names, function(a, b) return a[1] < b[1] end)
  for i, p in ipairs(names) do functions[i], fnames[i] = p[2], p[1] end
end

local function sorted_methods(obj)
  local ok, set = pcall(nm._methods, obj)
  local list = {}
  if ok then for name in pairs(set) do list[#list + 1] = name end end
  table.sort(list)
  return list
end

local function small_model()
  local kind = byte() % 4
  if kind == 3 then return nm.zoo("fmnist_resnet", {seed = byte()}) end   -- 78k weights
  local m = nm.model("tiny", {byte() % 4 + 1, byte() % 9 + 1, byte() % 9 + 1})
  m:add("conv", "conv1", {out = 4 + byte() % 8, k = 3, pad = 1})
  m:add("relu", "relu1")
  if kind == 2 then
    m:add("conv", "conv2", {out = 8, k = 1})
    m:add("bn", "bn2")
  end
  m:add("gap", "gap")
  m:add("flatten", "flat")
  m:add("linear", "fc", {out = 4})
  m:init_weights(byte())
  return m, m:layer("conv1"), m:layer("conv1").weight
end

step = function()
  local op = byte() % 8
  if op == 0 then
    local i = (byte() * 256 + byte()) % #functions + 1
    local f = functions[i]
    local a, n = args()
    trace(fnames[i], table.unpack(a, 1, n))
    keep(pcall(f, table.unpack(a, 1, n)))
  elseif op == 1 then
    local obj = from_pool()
    local names = sorted_methods(obj)
    if #names == 0 then return end
    local name = names[byte() % #names + 1]
    local okf, f = pcall(function() return obj[name] end)
    if not okf or type(f) ~= "function" then return end
    local self = obj
    if byte() % 8 == 0 then self = value() end   -- a method with the wrong self
    local a, n = args()
    trace(tostring(obj) .. ":" .. name, self == obj and "(self)" or self, table.unpack(a, 1, n))
    keep(pcall(f, self, table.unpack(a, 1, n)))
  elseif op == 2 then
    local obj = from_pool()
    local key = byte() % 2 == 0 and pick(keys) or value()
    keep(pcall(function() return obj[key] end))
    keep(pcall(function() return obj:get(value(), value(), value()) end))
  elseif op == 3 then
    local obj, key, v = from_pool(), value(), value()
    pcall(function() obj[key] = v end)
  elseif op == 4 then
    pool[byte() % POOL + 1] = nil
    collectgarbage()
  elseif op == 5 then
    local obj = from_pool()
    pcall(function() obj:free() end)
  elseif op == 6 then
    local a, b = from_pool(), from_pool()
    pcall(function() return #a end)
    pcall(tostring, a)
    pcall(function() return a == b, a < b end)
    pcall(function() return a .. "x" end)
    pcall(function() for _ in pairs(a) do end end)
  else
    keep(pcall(small_model))
  end
end

nm._cancel_after(40)   -- 40 hooks of 10000 instructions: no endless loop
-- An input starting with "--lua" is Lua source, run as it is under pcall:
-- the reproducers of fixed bugs, written by hand, are kept this way.
if input:sub(1, 5) == "--lua" then
  local chunk = load(input, "=reproducer", "t")
  if chunk then
    local ok, err = pcall(chunk, TMP)
    trace("reproducer ->", ok, err)
  end
  return
end
-- a model and a tensor to start from
keep(pcall(small_model))
keep(pcall(nm.tensor, {2, 4}, 1))
local ops = 0
while more() and ops < MAX_OPS do
  step()
  ops = ops + 1
end
