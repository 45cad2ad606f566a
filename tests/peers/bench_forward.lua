-- Peer benchmark (`make bench-peers`): nmlab's forward of the networks it
-- imports from the ONNX files tests/peers/torch_onnx_export.py wrote, on the
-- inputs tests/peers/bench_forward.py saved (DIR/bench_in_bB.npy), with the
-- same warm-up and the same number of timed forwards per block. Threads: as
-- the environment says (the Makefile sets OMP_NUM_THREADS=2). Prints one
-- line per (model, batch):
--
--   peer nmlab MODEL batch B: X images/s (REPS forwards, S s)
--   peer nmlab MODEL batch B: REFUSED (message)
--
-- Usage: nmlab run tests/peers/bench_forward.lua DIR MODEL[,MODEL...] BATCH[,BATCH...]

local dir, names, batches = arg[1], arg[2], arg[3]
if not (dir and names and batches) then
  io.stderr:write("usage: nmlab run tests/peers/bench_forward.lua DIR MODELS BATCHES\n")
  os.exit(2)
end

-- Wall-clock seconds (nm has no clock; os.clock is CPU time of all
-- threads). Called only around a block of forwards, so the cost of the
-- process it starts (about a millisecond) is far below the block's time.
local function now()
  local p = assert(io.popen("date +%s.%N"))
  local t = p:read("n")
  p:close()
  return t
end

-- Same count as bench_forward.py: about 32 images, at least 3 forwards.
local function reps_for(b) return math.max(3, 32 // b) end

local function split(s)
  local out = {}
  for w in s:gmatch("[^,]+") do out[#out + 1] = w end
  return out
end

local function oneline(s)
  return (tostring(s):gsub("\n.*", " ..."))
end

for _, name in ipairs(split(names)) do
  local m, warn = nm.load(dir .. "/" .. name .. ".onnx")
  for _, bs in ipairs(split(batches)) do
    local b = math.tointeger(tonumber(bs))
    local x = assert(nm.npy_load(("%s/bench_in_b%d.npy"):format(dir, b)))
    local ok, err = true, nil
    if not m then
      ok, err = false, "load: " .. warn
    elseif warn then
      -- An import that stopped early would time part of the network.
      ok, err = false, "import warnings: " .. warn
    end
    local reps, dt
    if ok then
      ok, err = pcall(function()
        for _ = 1, (b > 1 and 2 or 5) do m:forward(x):free() end
        reps = reps_for(b)
        local t0 = now()
        for _ = 1, reps do m:forward(x):free() end
        dt = now() - t0
      end)
    end
    if ok then
      print(("peer nmlab %s batch %d: %.2f images/s (%d forwards, %.2f s)"):format(
        name, b, reps * b / dt, reps, dt))
    else
      print(("peer nmlab %s batch %d: REFUSED (%s)"):format(name, b, oneline(err)))
    end
    io.stdout:flush()
    x:free()
    collectgarbage()
  end
  if m then m:free() end
end
