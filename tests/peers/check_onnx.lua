-- Peer test, step 2 (`make test-peers`; never part of `make test`): imports
-- the ONNX files tests/peers/torch_onnx_export.py wrote, runs nmlab's forward
-- on the saved input and compares with PyTorch's saved output:
--   PASS     max |y_nmlab - y_torch| <= 1e-4 * max |y_torch|
--   FAIL     the import and forward ran but the outputs differ (or the output
--            has the wrong size and nmlab gave no warning about it)
--   REFUSED  nmlab declined: nm.load failed, the forward raised, or the import
--            stopped early with warnings (an operator not supported yet) so
--            the output is not the network's
-- One line per model, then a summary table. Exits 1 unless every model passes.
--
-- Usage: nmlab run tests/peers/check_onnx.lua DIR [NAME ...]
-- DIR holds manifest.txt, NAME.onnx, NAME.in.npy, NAME.out.npy.

local RTOL = 1e-4
local dir = arg[1]
if not dir then
  io.stderr:write("usage: nmlab run tests/peers/check_onnx.lua DIR [NAME ...]\n")
  os.exit(2)
end

-- The manifest: one line per model, "name file C H W seed [dyn]".
local function read_manifest(path)
  local f, err = io.open(path)
  if not f then error("check_onnx: " .. err .. " (run tests/peers/torch_onnx_export.py first)") end
  local rows = {}
  for line in f:lines() do
    local name, file, c, h, w, seed, dyn =
      line:match("^(%S+)%s+(%S+)%s+(%d+)%s+(%d+)%s+(%d+)%s+(%d+)%s*(%S*)")
    if name then
      rows[#rows + 1] = {name = name, file = file, c = tonumber(c), h = tonumber(h),
                         w = tonumber(w), seed = tonumber(seed), dyn = dyn == "dyn"}
    end
  end
  f:close()
  return rows
end

-- Imports one file. Today's API is nm.load(path) -> model, warnings; files
-- with a symbolic height/width are also given their input shape
-- ({input = {C, H, W}}, the option planned for issue 11; today's nm.load
-- ignores it and refuses the symbolic dimension with a message).
local function import(row)
  local path = dir .. "/" .. row.file
  if row.dyn then
    return nm.load(path, {input = {row.c, row.h, row.w}})
  end
  return nm.load(path)
end

-- Runs the forward: today model:forward returns one tensor (the last
-- layer's output); a forward that returns one tensor per graph output is
-- also handled. Returns a list of tensors, or nil and the error message.
local function forward(m, x)
  local res = table.pack(pcall(m.forward, m, x))
  if not res[1] then return nil, tostring(res[2]) end
  local outs = {}
  for i = 2, res.n do outs[#outs + 1] = res[i] end
  return outs
end

-- A tensor's elements in C order, as one flat Lua array.
local function flat(t)
  local out = {}
  local function walk(v)
    if type(v) == "table" then
      for _, e in ipairs(v) do walk(e) end
    else
      out[#out + 1] = v
    end
  end
  walk(t:totable())
  return out
end

local function shape_str(t)
  return "[" .. table.concat(t:shape(), ", ") .. "]"
end

-- One line of text (first line, at most n characters) of a message.
local function oneline(s, n)
  s = tostring(s or ""):gsub("\n.*", " ...")
  if #s > n then s = s:sub(1, n - 3) .. "..." end
  return s
end

-- Checks one model; returns status, detail (one line), full message.
local function check(row)
  local x, err = nm.npy_load(dir .. "/" .. row.name .. ".in.npy")
  if not x then return "ERROR", err, err end
  local yt
  yt, err = nm.npy_load(dir .. "/" .. row.name .. ".out.npy")
  if not yt then return "ERROR", err, err end

  local m, warn = import(row)
  if not m then return "REFUSED", "load: " .. oneline(warn, 160), warn end
  local outs
  outs, err = forward(m, x)
  if not outs then
    local msg = err .. (warn and ("; import warnings: " .. warn) or "")
    return "REFUSED", "forward: " .. oneline(msg, 160), msg
  end
  local ref = flat(yt)
  local y
  for _, o in ipairs(outs) do
    if o:numel() == #ref then y = o break end
  end
  if not y then
    local got = {}
    for _, o in ipairs(outs) do got[#got + 1] = shape_str(o) end
    local msg = ("output %s, PyTorch's %s"):format(table.concat(got, " "), shape_str(yt))
    if warn then
      msg = "import incomplete (" .. msg .. "): " .. warn
      return "REFUSED", oneline(msg, 160), msg
    end
    return "FAIL", oneline(msg, 160), msg
  end
  local v = flat(y)
  local ymax, dmax = 0, 0
  for i = 1, #ref do
    ymax = math.max(ymax, math.abs(ref[i]))
    local d = math.abs(v[i] - ref[i])
    if d ~= d then d = math.huge end -- NaN counts as a failure
    dmax = math.max(dmax, d)
  end
  local tol = RTOL * ymax
  local detail = ("max|diff| %.3g, tol %.3g (max|y| %.4g)"):format(dmax, tol, ymax)
  if warn then detail = detail .. "; warnings: " .. oneline(warn, 100) end
  m:free()
  if dmax <= tol then return "PASS", detail, detail end
  return "FAIL", detail, detail
end

local rows = read_manifest(dir .. "/manifest.txt")
local only = {}
for i = 2, #arg do only[arg[i]] = true end
local results, bad = {}, 0
for _, row in ipairs(rows) do
  if next(only) == nil or only[row.name] then
    local ok, status, detail, full = pcall(check, row)
    if not ok then status, detail, full = "ERROR", oneline(status, 160), status end
    results[#results + 1] = {name = row.name, status = status, detail = detail}
    if status ~= "PASS" then bad = bad + 1 end
    full = tostring(full):gsub("%s+$", ""):gsub("\n", "\n" .. (" "):rep(30))
    print(("%-8s %-20s %s"):format(status, row.name, full))
    io.stdout:flush()
    collectgarbage()
  end
end

-- model:save_masks (issue 11): the masks run on the torchvision model are
-- checked by tests/peers/torch_masks_peer.py, which `make test-peers` runs
-- before this script.

print()
print(("%-20s %-8s %s"):format("model", "result", "detail"))
print(("%-20s %-8s %s"):format(("-"):rep(20), ("-"):rep(8), ("-"):rep(40)))
local counts = {}
for _, r in ipairs(results) do
  print(("%-20s %-8s %s"):format(r.name, r.status, r.detail))
  counts[r.status] = (counts[r.status] or 0) + 1
end
local parts = {}
for _, s in ipairs({"PASS", "FAIL", "REFUSED", "ERROR"}) do
  if counts[s] then parts[#parts + 1] = counts[s] .. " " .. s:lower() end
end
print(("peers: %d models: %s"):format(#results, table.concat(parts, ", ")))
os.exit(bad == 0 and 0 or 1)
