-- CPU time of model:forward for one model and batch (a comparison that
-- survives a busy machine better than wall time: run it with
-- OMP_NUM_THREADS=1 beside tests/peers/cpu_forward.py, which does the same
-- for PyTorch). The inputs are bench_forward.py's (DIR/bench_in_bB.npy).
--
-- Usage: nmlab run tests/peers/cpu_forward.lua DIR MODEL BATCH [REPS]
local dir, name, b, reps = arg[1], arg[2], tonumber(arg[3] or ""), tonumber(arg[4] or "10")
if not (dir and name and b) then
  io.stderr:write("usage: nmlab run tests/peers/cpu_forward.lua DIR MODEL BATCH [REPS]\n")
  os.exit(2)
end
local m = assert(nm.load(dir .. "/" .. name .. ".onnx"))
local x = assert(nm.npy_load(("%s/bench_in_b%d.npy"):format(dir, b)))
for _ = 1, 3 do m:forward(x):free() end          -- warm-up (builds the kept executor)
local t0 = os.clock()
for _ = 1, reps do m:forward(x):free() end
local dt = (os.clock() - t0) / reps
print(("cpu nmlab %s batch %d: %.1f ms CPU per forward, %.1f images per CPU-second")
      :format(name, b, dt * 1e3, b / dt))
