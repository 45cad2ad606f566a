-- Peer test, step 3 (`make test-peers`; never part of `make test`): channel
-- groups on the torchvision families tests/peers/torch_onnx_export.py
-- exported. For each model, three prunings of a fresh import:
--   filters  nm.prune.filters   ratio 0.3, allow_add, group_reduction mean
--   nffs     nm.prune.nffs      2:4 and a quarter of the rows of every
--                               plain conv/linear but the classifier
--   jointnf  nm.prune.jointnf   2:4, filters 0.3, one round, allow_add
-- then model:shrink() must compute what the masked model computes on the
-- saved input (max |y_shrunk - y_masked| <= 1e-4 * max |y_masked|), the
-- classifier must keep every output row, and no layer may be left without
-- a channel. One line per model and method, with the parameters before and
-- after the shrink (how much the groups let it remove). Exits 1 unless
-- every line passes; a model nm.load refuses is reported REFUSED (the
-- ONNX import's own test, check_onnx.lua, covers that).
--
-- Usage: nmlab run tests/peers/check_groups.lua DIR [NAME ...]
-- (environment NMLAB_NORMALIZE=mean: the filters and JointNF rankings use
-- normalize = 'mean'; default 'none')

local RTOL = 1e-4
local dir = arg[1]
if not dir then
  io.stderr:write("usage: nmlab run tests/peers/check_groups.lua DIR [NAME ...]\n")
  os.exit(2)
end

local function read_manifest(path)
  local f, err = io.open(path)
  if not f then error("check_groups: " .. err .. " (run tests/peers/torch_onnx_export.py first)") end
  local rows = {}
  for line in f:lines() do
    local name, file, dyn = line:match("^(%S+)%s+(%S+)%s+%d+%s+%d+%s+%d+%s+%d+%s*(%S*)")
    if name and dyn ~= "dyn" then rows[#rows + 1] = {name = name, file = file} end
  end
  f:close()
  return rows
end

local function flat(t)
  local out = {}
  local function walk(tab)
    for _, v in ipairs(tab) do
      if type(v) == "table" then walk(v) else out[#out + 1] = v end
    end
  end
  walk(t:totable())
  return out
end

local function maxdiff(a, b)
  local fa, fb = flat(a), flat(b)
  if #fa ~= #fb then return math.huge, 1 end
  local d, s = 0, 0
  for i = 1, #fa do
    d = math.max(d, math.abs(fa[i] - fb[i]))
    s = math.max(s, math.abs(fa[i]))
  end
  return d, s
end

local NORM = os.getenv("NMLAB_NORMALIZE") or "none"

local function prune(m, method)
  if method == "filters" then
    nm.prune.filters(m, {ratio = 0.3, allow_add = true, normalize = NORM})
  elseif method == "nffs" then
    local st, last = m:stats(), 0
    for i, r in ipairs(st) do
      if r.kind == "conv" or r.kind == "linear" then last = i end
    end
    for i, r in ipairs(st) do
      if (r.kind == "conv" or r.kind == "linear") and i < last and r.filters > 3 then
        local l = m:layer(r.name)
        local ok = pcall(nm.prune.nffs, l, {n = 2, m = 4, ratio = 0.25})
        if not ok then nm.prune.nffs(l, {n = 2, m = 4, u = 0}) end
      end
    end
  else
    nm.prune.jointnf(m, {n = 2, m = 4, filters = 0.3, rounds = 1, allow_add = true,
                         normalize = NORM})
  end
end

-- The graph's classifier: the last conv/linear layer.
local function guarantees(m)
  local st, last = m:stats(), nil
  for _, r in ipairs(st) do
    if r.kind == "conv" or r.kind == "linear" then last = r end
    if r.filters and r.filters > 0 and r.filters_kept == 0 then return "layer " .. r.name .. " has no channel" end
  end
  if last and last.filters_kept ~= last.filters then
    return "classifier " .. last.name .. " lost rows"
  end
end

local wanted = {}
for i = 2, #arg do wanted[arg[i]] = true end
local failed, lines = 0, {}
for _, row in ipairs(read_manifest(dir .. "/manifest.txt")) do
  if next(wanted) == nil or wanted[row.name] then
    local x = nm.npy_load(dir .. "/" .. row.name .. ".in.npy")
    for _, method in ipairs{"filters", "nffs", "jointnf"} do
      local m, warn = nm.load(dir .. "/" .. row.file)
      local verdict, info
      if not m then
        verdict, info = "REFUSED", tostring(warn)
      else
        local ok, err = pcall(prune, m, method)
        if not ok then
          verdict, info = "FAIL", "pruning raised: " .. tostring(err)
        else
          local bad = guarantees(m)
          local y = m:forward(x)
          local s = m:shrink()
          local ys = s:forward(x)
          local d, sc = maxdiff(y, ys)
          if bad then
            verdict, info = "FAIL", bad
          elseif d <= RTOL * math.max(sc, 1e-30) then
            verdict = "PASS"
            info = string.format("params %d -> %d (%.3f), max diff %.3g of %.3g", m.params, s.params,
                                 s.params / m.params, d, sc)
          else
            verdict = "FAIL"
            info = string.format("shrunk differs: max diff %.3g of %.3g", d, sc)
          end
          s:free()
        end
        m:free()
      end
      if verdict ~= "PASS" and verdict ~= "REFUSED" then failed = failed + 1 end
      local line = string.format("%-8s %-20s %-8s %s", verdict, row.name, method, info)
      print(line)
      lines[#lines + 1] = line
      collectgarbage()
    end
  end
end
print(string.format("check_groups: %d line(s), %d failed", #lines, failed))
if failed > 0 then os.exit(1) end
