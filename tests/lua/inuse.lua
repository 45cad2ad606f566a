-- Models in use by an engine loop (nm.train, nm.prune.jointnf, sys:run with
-- progress): a callback that frees, closes, extends, prunes, resets or
-- re-activates the model gets "model is in use by <loop>", the loop ends
-- with that error and the model stays valid. Each of the first cases
-- crashed (use after free, heap overflow, NULL mask) before the guard.
-- Also: locked metatables and the energy-table validator.
-- Self-contained (no fixtures): it also runs under --sandbox.
local T = require "nm.test"

-- 12 images 1x4x4, three classes (class k lights up column k).
local function data(n)
  local x = nm.tensor({n, 1, 4, 4})
  local labels = {}
  for i = 1, n do
    labels[i] = (i - 1) % 3
    for c = 1, 4 do x:set(i, 1, 2, c, c - 1 == labels[i] and 2 or 0.1 * c) end
  end
  return nm.data.from_tensors(x, labels, 3, "syn")
end

local function model()
  local m = nm.model("lin", {1, 4, 4})
  m:add("conv", "c1", {out = 4, k = 3, pad = 1})
  m:add("relu", "r1")
  m:add("flatten", "flat")
  m:add("linear", "fc", {out = 3})
  m:init_weights(1)
  return m
end

-- conv1, conv2, conv3 (conv2 and conv3 pruned by JointNF), fc.
local function cnn(seed)
  local m = nm.model("small", {3, 12, 12})
  m:add("conv", "conv1", {out = 8, k = 3, pad = 1})
  m:add("bn", "bn1"); m:add("relu", "relu1")
  m:add("conv", "conv2", {out = 16, k = 3, pad = 1})
  m:add("bn", "bn2"); m:add("relu", "relu2")
  m:add("conv", "conv3", {out = 12, k = 3, pad = 1, stride = 2})
  m:add("relu", "relu3")
  m:add("gap", "gap"); m:add("flatten", "flat")
  m:add("linear", "fc", {out = 10})
  m:init_weights(seed)
  return m
end

local function cnn_data(n)
  local x = nm.tensor({n, 3, 12, 12})
  local labels = {}
  for i = 1, n do
    labels[i] = (i - 1) % 10
    x:set(i, 1 + labels[i] % 3, 1 + labels[i], 1 + labels[i], 1.5)
  end
  return nm.data.from_tensors(x, labels, 10, "cnn")
end

-- The model still works: layers, a forward pass with finite outputs, and
-- it can be freed (the loop released it).
local function intact(m, layers)
  T.eq(#m, layers)
  local inp = m.input
  local y = m:forward(nm.tensor({1, inp[1], inp[2], inp[3]}, 0.5))
  T.eq(y:shape()[1], 1)
  local function finite(t)
    if type(t) == "table" then for _, v in ipairs(t) do finite(v) end
    else T.ok(t == t and t > -math.huge and t < math.huge, "finite output") end
  end
  finite(y:totable())
  m:add("relu", "after_loop")        -- idle again: extending works
  T.eq(#m, layers + 1)
  m:free()
  T.raises(function() return #m end, "model has been freed")
end

local TRAIN = {epochs = 2, batch = 4, lr = 0.01}
local function opts(extra)
  local o = {}
  for k, v in pairs(TRAIN) do o[k] = v end
  for k, v in pairs(extra) do o[k] = v end
  return o
end

T.case("nm.train: free, <close> and add inside callbacks raise; the model stays valid", function()
  local d = data(12)
  -- was: use after free in nm_net_forward
  local m = model()
  T.raises(function() nm.train(m, d, opts{on_batch = function() m:free() end}) end,
    "model:free: model is in use by nm.train")
  intact(m, 4)
  m = model()
  T.raises(function() nm.train(m, d, opts{epochs = 3, on_epoch = function() m:free() end}) end,
    "model:free: model is in use by nm.train")
  intact(m, 4)
  -- a <close> variable holding the model goes out of scope in the callback
  m = model()
  T.raises(function()
    nm.train(m, d, opts{on_batch = function() local mm <close> = m end})
  end, "<close>: model is in use by nm.train")
  intact(m, 4)
  -- was: heap overflow (the net was sized for the old layer count)
  m = model()
  T.raises(function()
    nm.train(m, d, opts{on_batch = function(p) if p.step == 1 then m:add("relu", "extra") end end})
  end, "model:add: model is in use by nm.train")
  intact(m, 4)
  -- through another handle of the same model (a layer view's .model)
  m = model()
  local other = m:layer("fc").model
  T.raises(function() nm.train(m, d, opts{on_batch = function() other:free() end}) end,
    "model:free: model is in use by nm.train")
  intact(m, 4)
end)

T.case("nm.train: every structural change from a callback raises, naming it", function()
  local d = data(12)
  local calls = {
    {"model:set_activation", function(m) m:set_activation("r1", {n = 1, m = 2}) end},
    {"nm.prune.nm", function(m) nm.prune.nm(m:layer("fc"), {n = 1, m = 4}) end},
    {"nm.prune.reset", function(m) nm.prune.reset(m) end},
    {"nm.prune.magnitude", function(m) nm.prune.magnitude(m, {sparsity = 0.5, include_first = true}) end},
    {"nm.prune.global", function(m) nm.prune.global(m, {sparsity = 0.5}) end},
    {"nm.prune.filters", function(m) nm.prune.filters(m:layer("c1"), {ratio = 0.25}) end},
    {"nm.prune.nffs", function(m) nm.prune.nffs(m:layer("c1"), {n = 1, m = 3, u = 1}) end},
    {"nm.prune.jointnf", function(m) nm.prune.jointnf(m, {n = 1, m = 3}) end},
    {"nm.train", function(m) nm.train(m, d, {epochs = 1, batch = 4}) end},
  }
  for _, c in ipairs(calls) do
    local m = model()
    local seen
    T.raises(function()
      nm.train(m, d, opts{on_batch = function() seen = true; c[2](m) end})
    end, c[1] .. ": model is in use by nm.train")
    T.ok(seen, c[1])
    T.eq(m:layer("fc").mask, nil, c[1] .. " left no mask")
    T.eq(m:layer("r1").kind, "relu", c[1] .. " left the activation")
    intact(m, 4)
  end
end)

T.case("nm.train: reads and weight writes inside callbacks are allowed", function()
  local d = data(12)
  local m = model()
  local sys = nm.sim.system{mac = "pmac", rows = 4}
  local batches, w = 0, m:layer("fc").weight
  local p = nm.train(m, d, opts{on_batch = function()
    batches = batches + 1
    T.eq(#m:stats(), 4)
    local acc = m:evaluate(d)
    T.ok(acc >= 0 and acc <= 1)
    T.ok(sys:run(m).total.cycles > 0)
    local c = m:clone(); c:free()
    w:set(1, 1, w:get(1, 1))           -- a weight value, not the structure
    -- a callback may catch the error itself: training goes on
    local ok, err = pcall(m.free, m)
    T.ok(not ok and err:find("model is in use by nm.train", 1, true))
  end})
  T.eq(batches, 6)                        -- 2 epochs x 12/4 batches: not stopped
  T.eq(p.step, 6)
  intact(m, 4)
end)

T.case("nm.train with SR-STE rewrites masks: refused inside JointNF", function()
  local d = cnn_data(10)
  local m = cnn(3)
  T.raises(function()
    nm.prune.jointnf(m, {n = 4, m = 9, filters = 0.25, finetune = function(mm)
      nm.train(mm, d, {epochs = 1, batch = 5, srste = {n = 2, m = 9}})
    end})
  end, "nm.train: model is in use by nm.prune.jointnf")
  intact(m, 11)
  -- and SR-STE training is training: no nested nm.train from its callbacks
  m = model()
  local dd = data(12)
  T.raises(function()
    nm.train(m, dd, {epochs = 1, batch = 4, srste = {n = 2, m = 4}, on_batch = function()
      nm.train(m, dd, {epochs = 1, batch = 4}) end})
  end, "nm.train: model is in use by nm.train")
  T.raises(function()
    nm.train(m, dd, {epochs = 1, batch = 4, srste = {n = 2, m = 4}, on_batch = function()
      nm.prune.reset(m) end})
  end, "nm.prune.reset: model is in use by nm.train")
  intact(m, 4)
end)

T.case("nm.prune.jointnf: reset from finetune, on_round, progress raises", function()
  -- was: NULL mask in mark_candidates
  for _, cb in ipairs{"finetune", "on_round", "progress"} do
    local m = cnn(1)
    local o = {n = 4, m = 9, filters = 0.25}
    o[cb] = function() nm.prune.reset(m) end
    T.raises(function() nm.prune.jointnf(m, o) end,
      "nm.prune.jointnf: " .. cb .. " (round ")
    -- the error names the loop
    local m2 = cnn(1)
    local o2 = {n = 4, m = 9, filters = 0.25}
    o2[cb] = function() nm.prune.reset(m2) end
    local err = T.raises(function() nm.prune.jointnf(m2, o2) end,
      "nm.prune.reset: model is in use by nm.prune.jointnf")
    T.ok(err:find(cb, 1, true), err)
    intact(m2, 11)
  end
  -- free, <close> and add from the callbacks
  local m = cnn(2)
  T.raises(function() nm.prune.jointnf(m, {n = 4, m = 9, finetune = function(mm) mm:free() end}) end,
    "model:free: model is in use by nm.prune.jointnf")
  T.raises(function()
    nm.prune.jointnf(m, {n = 4, m = 9, on_round = function() local x <close> = m end})
  end, "<close>: model is in use by nm.prune.jointnf")
  T.raises(function()
    nm.prune.jointnf(m, {n = 4, m = 9, progress = function() m:add("relu", "x") end})
  end, "model:add: model is in use by nm.prune.jointnf")
  intact(m, 11)
end)

T.case("nm.prune.jointnf: pruning another model from a callback is fine", function()
  local other = cnn(5)
  local m = cnn(1)
  nm.prune.jointnf(m, {n = 4, m = 9, rounds = 2, finetune = function()
    nm.prune.nm(other, {n = 4, m = 9})
  end})
  T.ok(nm.check_nm(other:layer("conv2"), {n = 4, m = 9}))
  T.ok(nm.check_nm(m:layer("conv2"), {n = 4, m = 9}))
end)

T.case("nm.prune.jointnf: finetune may train the model (and the result is the method's)", function()
  local d = cnn_data(10)
  local m = cnn(4)
  local trained, inner = 0, nil
  local rep = nm.prune.jointnf(m, {n = 4, m = 9, filters = 0.25, rounds = 2,
    finetune = function(mm)
      local w0 = mm:layer("fc").weight:get(1, 1)
      nm.train(mm, d, {epochs = 1, batch = 5, lr = 0.05, on_batch = function()
        -- inside the nested training the innermost loop is named
        inner = select(2, pcall(nm.prune.reset, mm))
      end})
      trained = trained + 1
      T.ok(mm:layer("fc").weight:get(1, 1) ~= w0, "training changed the weights")
    end})
  T.eq(trained, 2)
  T.ok(inner:find("nm.prune.reset: model is in use by nm.train", 1, true), inner)
  -- JointNF's final N:M holds on its layers after the training rounds
  for _, name in ipairs{"conv2", "conv3"} do
    local ok, viol = nm.check_nm(m:layer(name), {n = 4, m = 9})
    T.ok(ok, name .. " violations " .. tostring(viol))
  end
  T.eq(rep.filters_unmet, 0)
  -- training on a model JointNF is not using stays free: nested train
  -- of the same model from its own on_batch is refused
  T.raises(function()
    nm.train(m, d, {epochs = 1, batch = 5, on_batch = function() nm.train(m, d, {epochs = 1, batch = 5}) end})
  end, "nm.train: model is in use by nm.train")
  intact(m, 11)
end)

T.case("sys:run with progress: the model is in use until the run ends", function()
  local sys = nm.sim.system{mac = "pmac", rows = 4}
  local m = model()
  T.raises(function() sys:run(m, {progress = function() m:free() end}) end,
    "model:free: model is in use by sys:run")
  T.raises(function() sys:run(m:layer("fc"), {progress = function() nm.prune.reset(m) end}) end,
    "nm.prune.reset: model is in use by sys:run")
  -- reads and training (weights only) are allowed from its progress
  local d, steps = data(12), 0
  local r = sys:run(m, {progress = function() steps = steps + nm.train(m, d, {epochs = 1, batch = 4}).step end})
  T.eq(steps, 2 * 3)                      -- two layers with weights, 3 batches each
  T.eq(#r.layers, 2)
  intact(m, 4)
end)

T.case("the guard is released on every exit: errors, stop, nesting", function()
  local d = data(12)
  local m = model()
  T.raises(function() nm.train(m, d, opts{on_batch = function() error("boom") end}) end, "boom")
  local p = nm.train(m, d, opts{on_batch = function() return false end})
  T.ok(p.stopped)
  T.raises(function() nm.train(m, d, {epochs = 1, batch = 4, lr = -1}) end, "lr")
  -- a coroutine inside a callback sees the model in use too
  nm.train(m, d, opts{on_epoch = function()
    local co = coroutine.create(function() m:free() end)
    local ok, err = coroutine.resume(co)
    T.ok(not ok and err:find("model is in use by nm.train", 1, true), err)
  end})
  collectgarbage()
  intact(m, 4)
end)

T.case("metatables are locked", function()
  local m = model()
  local sys = nm.sim.system{mac = "pmac", rows = 4}
  local objects = {
    {nm.tensor({2}), "nm.tensor"}, {m, "nm.model"}, {m:layer("fc"), "nm.layer"},
    {data(3), "nm.dataset"}, {sys, "nm.sim.system"}, {sys:run(m), "nm.sim.report"},
    {nm.sim.compare({sys}, {m}), "nm.sim.compare_rows"},
    {sys:stepper(m:layer("fc")), "nm.sim.stepper"},
    {nm.plot.bars{groups = {"a"}, series = {{name = "s", values = {1}}}}, "nm.plot"},
  }
  for _, o in ipairs(objects) do
    local x, name = o[1], o[2]
    T.eq(getmetatable(x), name, name)
    T.raises(function() getmetatable(x).__gc = nil end, "attempt to index a string value")
    T.raises(function() setmetatable(x, {}) end, type(x) == "table"
      and "cannot change a protected metatable" or "table expected")
  end
  -- the method names stay visible for the console's completion, as a copy
  local tm = nm._methods(objects[1][1])
  T.ok(tm.fill and tm.clone and tm.free, "tensor methods")
  T.ok(nm._methods(m).free and nm._methods(m).add and nm._methods(m).evaluate, "model methods")
  T.ok(nm._methods(m:layer("fc")).stats, "layer methods")
  T.ok(nm._methods("s").upper, "string methods")
  tm.fill = nil
  T.ok(nm._methods(objects[1][1]).fill, "a copy")
  T.eq(next(nm._methods(42)), nil)
  -- __gc still gives the bytes back: 64 x 1 MB tensors dropped in turn fit
  -- under --mem-limit (the sandbox run sets 64M; a stripped __gc would not)
  for _ = 1, 64 do local t = nm.tensor({256, 1024}); t = nil; collectgarbage() end
  m:free()
end)

T.case("energy tables: 0, negative, NaN and Inf refused, naming the field", function()
  local bad = {0, -1, 0 / 0, math.huge, -math.huge}
  for _, v in ipairs(bad) do
    T.raises(function() nm.sim.system{mac = "pmac", energy = {mul8_pj = v}} end,
      "energy: 'mul8_pj' must be a positive finite number")
    T.raises(function() nm.sim.scale_energy({clock_ghz = v}, 16) end,
      "'clock_ghz' must be a positive finite number")
  end
  T.raises(function() nm.sim.system{mac = "pmac", energy = {node_nm = 45.5}} end,
    "'node_nm' must be an integer in 1..1000")
  T.raises(function() nm.sim.system{mac = "pmac", energy = {nope = 1}} end,
    "energy: unknown key 'nope'")
  -- a valid table still applies: doubling mul8_pj doubles the multiply
  -- energy of the same run (products x mul8_pj with idle slots skipped)
  local g = {E = 8, K = 8, Nf = 8}
  local a = nm.sim.system{mac = "pmac", rows = 8, idle = "skipped"}:run(g)
  local b = nm.sim.system{mac = "pmac", rows = 8, idle = "skipped", energy = {mul8_pj = 0.4}}:run(g)
  T.ok(a.total.energy.mult > 0)
  T.near(b.total.energy.mult, 2 * a.total.energy.mult, 1e-9 * a.total.energy.mult)
  -- the JSON reader gives the same message, with the file name
  local path = "inuse_energy_test.json"
  for _, c in ipairs{{'{"mul8_pj": 0}', "mul8_pj"}, {'{"sfu_pj": -2.5}', "sfu_pj"},
                      {'{"node_nm": 45, "clock_ghz": 0.0}', "clock_ghz"}} do
    local f = assert(io.open(path, "w")); f:write(c[1]); f:close()
    local t, msg = nm.sim.energy_table(path)
    T.eq(t, nil)
    T.ok(msg:find(path .. ": '" .. c[2] .. "' must be a positive finite number", 1, true), msg)
  end
  os.remove(path)
end)

T.done()
