-- nm.train, nm.data, model:evaluate/forward/set_activation. Expected
-- figures come from hand computations in Lua, never from the engine.
local T = require "nm.test"

-- A synthetic 3-class set of 1x4x4 images: class k lights up column k
-- (value 2) over Gaussian-ish noise (sum of uniforms, sd ~0.3). Linearly
-- separable by a wide margin, so a linear model must learn it.
local function synthetic(n, seed)
  math.randomseed(seed)
  local x = nm.tensor({n, 1, 4, 4})
  local labels = {}
  for i = 1, n do
    local k = (i - 1) % 3
    labels[i] = k
    for r = 1, 4 do
      for c = 1, 4 do
        local noise = (math.random() + math.random() + math.random() - 1.5) * 0.6
        x:set(i, 1, r, c, (c - 1 == k and 2 or 0) + noise)
      end
    end
  end
  return nm.data.from_tensors(x, labels, 3, "synthetic"), x, labels
end

local function linear_model(seed)
  local m = nm.model("lin", {1, 4, 4})
  m:add("flatten", "flat")
  m:add("linear", "fc", {out = 3})
  m:init_weights(seed)
  return m
end

-- A small CNN with BN, for masks and SR-STE (conv rows of 2*9 = 18).
local function cnn(seed)
  local m = nm.model("cnn", {1, 4, 4})
  m:add("conv", "conv1", {out = 4, k = 3, pad = 1})
  m:add("bn", "bn1")
  m:add("relu", "relu1")
  m:add("conv", "conv2", {out = 4, k = 3, pad = 1})
  m:add("bn", "bn2")
  m:add("relu", "relu2")
  m:add("flatten", "flat")
  m:add("linear", "fc", {out = 3})
  m:init_weights(seed)
  return m
end

T.case("dataset handle", function()
  local d, x, labels = synthetic(12, 1)
  T.eq(#d, 12)
  T.eq(d.classes, 3)
  T.eq(d.shape, {1, 4, 4})
  for i = 1, 12 do T.eq(d:label(i), labels[i]) end
  local img = d:image(5)
  T.eq(img:shape(), {1, 4, 4})
  for r = 1, 4 do
    for c = 1, 4 do T.eq(img:get(1, r, c), x:get(5, 1, r, c)) end
  end
  -- the dataset holds a copy: changing x later does not change it
  x:set(5, 1, 1, 1, 99)
  T.ok(d:image(5):get(1, 1, 1) ~= 99)
  T.raises(function() d:image(13) end, "out of range 1..12")
  T.raises(function() d:label(0) end, "out of range")
  T.raises(function() nm.data.from_tensors(x, {0, 1}, 3) end, "")
  T.raises(function() nm.data.from_tensors(x, labels, 2) end, "")
  local bad = {}
  for i = 1, 12 do bad[i] = 0 end
  bad[4] = 1.5
  T.raises(function() nm.data.from_tensors(x, bad, 3) end, "labels[4]")
  T.raises(function() nm.data.from_tensors(nm.tensor({12, 16}), labels, 3) end, "[n, C, H, W]")
end)

T.case("fashion_mnist missing directory names the Debian package", function()
  local msg = T.raises(function()
    nm.data.fashion_mnist{split = "test", dir = "no-such-dir-here"}
  end, "dataset-fashion-mnist")
  T.ok(msg:find("no-such-dir-here", 1, true), msg)
  T.raises(function() nm.data.fashion_mnist{split = "val"} end, "split")
  T.raises(function() nm.data.fashion_mnist{limt = 3} end, "limt")
end)

T.case("forward equals a hand-computed linear model", function()
  local m = nm.model("tiny", {2, 1, 1})
  m:add("flatten", "flat")
  local fc = m:add("linear", "fc", {out = 3})
  local W = {{1, -2}, {0.5, 3}, {-1, -1}}
  local b = {0.25, -1, 2}
  for o = 1, 3 do
    for i = 1, 2 do fc.weight:set(o, i, W[o][i]) end
    fc.bias:set(o, b[o])
  end
  local x = nm.tensor({2, 2, 1, 1})
  local xs = {{0.5, -1.5}, {2, 4}}
  for n = 1, 2 do
    for i = 1, 2 do x:set(n, i, 1, 1, xs[n][i]) end
  end
  local y = m:forward(x)
  T.eq(y:shape(), {2, 3, 1, 1})
  for n = 1, 2 do
    for o = 1, 3 do
      local want = W[o][1] * xs[n][1] + W[o][2] * xs[n][2] + b[o]
      T.near(y:get(n, o, 1, 1), want, 1e-5)
    end
  end
  -- one sample [C, H, W]
  local one = nm.tensor({2, 1, 1})
  one:set(1, 1, 1, 2)
  one:set(2, 1, 1, 4)
  T.near(m:forward(one):get(1, 2, 1, 1), 0.5 * 2 + 3 * 4 - 1, 1e-5)
  T.raises(function() m:forward(nm.tensor({3, 1, 1})) end, "")
  T.raises(function() m:forward(nm.tensor({2, 1, 1}, 0, "i32")) end, "f32")
end)

T.case("forward through a conv equals a hand convolution", function()
  local m = nm.model("c", {1, 3, 3})
  local cv = m:add("conv", "conv", {out = 1, k = 3, pad = 1})
  local w = {{1, 0, -1}, {2, 1, 0}, {0, -2, 1}}
  for r = 1, 3 do for c = 1, 3 do cv.weight:set(1, 1, r, c, w[r][c]) end end
  local img = {{1, 2, 3}, {4, 5, 6}, {7, 8, 9}}
  local x = nm.tensor({1, 3, 3})
  for r = 1, 3 do for c = 1, 3 do x:set(1, r, c, img[r][c]) end end
  local y = m:forward(x)
  for r = 1, 3 do
    for c = 1, 3 do
      local s = 0
      for i = 1, 3 do
        for j = 1, 3 do
          local rr, cc = r + i - 2, c + j - 2
          if rr >= 1 and rr <= 3 and cc >= 1 and cc <= 3 then s = s + w[i][j] * img[rr][cc] end
        end
      end
      T.near(y:get(1, 1, r, c), s, 1e-4)
    end
  end
end)

T.case("training a linear model reaches high accuracy", function()
  local train = synthetic(300, 2)
  local test = synthetic(150, 3)
  local m = linear_model(1)
  local acc0 = m:evaluate(test)
  local epochs_seen, batches = 0, 0
  local p = nm.train(m, train, {epochs = 5, batch = 16, lr = 0.1, seed = 7, val = test,
    on_batch = function(p) batches = batches + 1 end,
    on_epoch = function(p) epochs_seen = epochs_seen + 1; T.ok(p.val_acc ~= nil) end})
  T.eq(epochs_seen, 5)
  T.eq(batches, p.step)
  T.eq(p.step, 5 * math.ceil(300 / 16) - 0)   -- 19 batches per epoch, last has 12
  local acc, loss = m:evaluate(test)
  T.ok(acc >= 0.95, ("accuracy %.3f (was %.3f)"):format(acc, acc0))
  T.near(acc, p.val_acc, 1e-9)
  -- independent check of the accuracy: argmax of forward on every image
  local right = 0
  for i = 1, #test do
    local y = m:forward(test:image(i))
    local best, bi = -math.huge, -1
    for k = 1, 3 do
      if y:get(1, k, 1, 1) > best then best, bi = y:get(1, k, 1, 1), k - 1 end
    end
    if bi == test:label(i) then right = right + 1 end
  end
  T.near(acc, right / #test, 1e-9)
  T.ok(loss < 0.5, "loss " .. loss)
  -- adam and the step schedule train too
  local m2 = linear_model(2)
  nm.train(m2, train, {epochs = 4, batch = 32, optimizer = "adam", lr = 0.02,
                       schedule = "step", step_epochs = 2, step_gamma = 0.5})
  T.ok(m2:evaluate(test) >= 0.95)
end)

-- every group of m consecutive entries of each weight row keeps <= n nonzeros
local function check_nm_rows(w, n, m)
  local sh = w:shape()
  local rows, cols = sh[1], w:numel() // sh[1]
  local flat = {}
  local k = 0
  local function walk(t, depth, idx)
    if depth > #sh then
      k = k + 1
      flat[k] = w:get(table.unpack(idx))
      return
    end
    for i = 1, sh[depth] do
      idx[depth] = i
      walk(t, depth + 1, idx)
    end
  end
  walk(w, 1, {})
  for r = 0, rows - 1 do
    for g = 0, cols - 1, m do
      local nz = 0
      for j = g, math.min(g + m, cols) - 1 do
        if flat[r * cols + j + 1] ~= 0 then nz = nz + 1 end
      end
      if nz > n then return false end
    end
  end
  return true
end

T.case("SR-STE leaves N:M weights; masked weights stay exactly zero", function()
  local train = synthetic(120, 4)
  local m = cnn(5)
  T.eq(m:layer("conv2").mask, nil)
  nm.train(m, train, {epochs = 2, batch = 20, lr = 0.05, srste = {n = 2, m = 9, lambda = 1e-3}})
  local conv2 = m:layer("conv2")
  T.ok(conv2.mask ~= nil, "SR-STE stores the mask")
  T.ok(check_nm_rows(conv2.weight, 2, 9), "conv2 is 2:9")
  T.ok(check_nm_rows(m:layer("conv1").weight, 2, 9), "conv1 is 2:9")
  -- remember which weights are masked (by hand: mask value 0)
  local masked, total = {}, 0
  local mask, w = conv2.mask, conv2.weight
  for o = 1, 4 do for i = 1, 4 do for r = 1, 3 do for c = 1, 3 do
    if mask:get(o, i, r, c) == 0 then
      masked[#masked + 1] = {o, i, r, c}
    end
    total = total + 1
  end end end end
  T.eq(#masked, total - 4 * 4 * 2)   -- 2 kept in each 9-group of a (out, in) pair
  -- mask one whole filter by hand too
  for i = 1, 4 do for r = 1, 3 do for c = 1, 3 do mask:set(2, i, r, c, 0) end end end
  nm.train(m, train, {epochs = 2, batch = 20, lr = 0.1, momentum = 0.9, weight_decay = 1e-3})
  for _, at in ipairs(masked) do T.eq(w:get(table.unpack(at)), 0.0) end
  for i = 1, 4 do for r = 1, 3 do for c = 1, 3 do T.eq(w:get(2, i, r, c), 0.0) end end end
  local nz = 0
  for o = 1, 4 do for i = 1, 4 do for r = 1, 3 do for c = 1, 3 do
    if mask:get(o, i, r, c) ~= 0 and w:get(o, i, r, c) ~= 0 then nz = nz + 1 end
  end end end end
  T.ok(nz > 0, "kept weights still train")
  if nm.prune and nm.prune.nm then
    local m2 = cnn(6)
    nm.prune.nm(m2, {n = 3, m = 9, include_first = true})
    nm.train(m2, train, {epochs = 1, batch = 20, lr = 0.1})
    T.ok(check_nm_rows(m2:layer("conv2").weight, 3, 9), "nm.prune mask kept by nm.train")
  end
end)

T.case("evaluate: activation density per layer", function()
  local d = synthetic(30, 8)
  local m = cnn(9)
  local acc, loss, dens = m:evaluate(d, {batch = 7})
  T.ok(acc >= 0 and acc <= 1)
  T.ok(loss > 0)
  T.eq(#dens, #m)
  T.eq(dens[3].name, "relu1")
  T.eq(dens.relu1, dens[3].density)
  -- density of relu2 by hand from forward: a 2-layer prefix model is not
  -- available, so check relu via the NMReLU bound instead
  T.ok(dens.relu1 > 0 and dens.relu1 < 1)
  T.eq(m:set_activation("all", {n = 2, m = 8, policy = "first"}), 2)
  T.eq(m:layer("relu1").kind, "nmrelu")
  local _, _, d2 = m:evaluate(d, {batch = 7})
  -- groups of 8 positions along 16 per channel: at most 2 of 8 kept
  T.ok(d2.relu1 <= 2 / 8 + 1e-12, "nmrelu density " .. d2.relu1)
  T.ok(d2.relu1 <= dens.relu1 + 1e-12)
  T.eq(m:set_activation({"relu1"}), 1)   -- back to plain ReLU
  T.eq(m:layer("relu1").kind, "relu")
  local _, _, d3 = m:evaluate(d, {batch = 7})
  T.near(d3.relu1, dens.relu1, 1e-12)
  T.raises(function() m:set_activation("conv1", {n = 2, m = 4}) end, "not a ReLU")
  T.raises(function() m:set_activation("relu1", {n = 5, m = 4}) end, "5:4")
  T.raises(function() m:set_activation("nope", {n = 1, m = 4}) end, "no layer 'nope'")
  T.raises(function() m:set_activation("relu1", {n = 1}) end, "m")
  T.raises(function() m:set_activation("relu1", {n = 1, m = 4, policy = "best"}) end, "policy")
end)

T.case("bad options raise naming the option", function()
  local d = synthetic(12, 10)
  local m = linear_model(3)
  T.raises(function() nm.train(m, d, {epochs = 0}) end, "epochs")
  T.raises(function() nm.train(m, d, {batch = "big"}) end, "batch")
  T.raises(function() nm.train(m, d, {batch = 1}) end, "batch")
  T.raises(function() nm.train(m, d, {lr = -1}) end, "lr")
  T.raises(function() nm.train(m, d, {optimizer = "lbfgs"}) end, "optimizer")
  T.raises(function() nm.train(m, d, {schedule = "linear"}) end, "schedule")
  T.raises(function() nm.train(m, d, {momentum = 1.5}) end, "momentum")
  T.raises(function() nm.train(m, d, {srste = {n = 5, m = 4}}) end, "srste")
  T.raises(function() nm.train(m, d, {srste = {n = 2, m = 4, lamda = 1}}) end, "lamda")
  T.raises(function() nm.train(m, d, {val = 3}) end, "val")
  T.raises(function() nm.train(m, d, {on_batch = 3}) end, "on_batch")
  T.raises(function() nm.train(m, d, {epoch = 2}) end, "epoch")
  T.raises(function() nm.train(m, "data") end, "dataset")
  T.raises(function() m:evaluate(d, {bach = 3}) end, "bach")
  -- a data/model shape mismatch is the engine's message
  local other = nm.data.from_tensors(nm.tensor({4, 1, 5, 5}), {0, 1, 2, 0}, 3)
  T.raises(function() nm.train(m, other, {}) end, "")
end)

-- nm.train reads numbers loosely (nmlua_opt_num with NMLUA_LOOSE): a
-- numeric string is that number; other strings and booleans are not.
T.case("option types: numeric strings are numbers", function()
  local d = synthetic(12, 10)
  local a, b = linear_model(3), linear_model(3)
  local pa = nm.train(a, d, {epochs = 1, batch = 4, lr = "0.05", schedule = "const", seed = 1})
  local pb = nm.train(b, d, {epochs = 1, batch = 4, lr = 0.05, schedule = "const", seed = 1})
  T.eq(pa.lr, 0.05)
  T.eq(a:layer("fc").weight:totable(), b:layer("fc").weight:totable())
  T.eq(pa.loss, pb.loss)
  local m = linear_model(3)
  T.raises(function() nm.train(m, d, {lr = "fast"}) end,
    "bad argument #3 to 'train' (lr: must be a number)")
  T.raises(function() nm.train(m, d, {lr = true}) end, "lr: must be a number")
  T.raises(function() nm.train(m, d, {momentum = "2"}) end, "momentum: 2.0 out of range 0.0..0.999999")
  T.raises(function() nm.train(m, d, {optimizer = 3}) end, "optimizer: must be one of 'sgd', 'adam'")
  T.raises(function() nm.train(m, d, {on_epoch = "f"}) end, "on_epoch: must be a function")
  T.raises(function() nm.data.fashion_mnist{split = 1} end, "split: must be one of 'train', 'test'")
  T.raises(function() m:set_activation("all", {n = 1, m = 2, axis = "row"}) end,
    "axis: must be one of 'position', 'channel'")
end)

T.case("callbacks: errors propagate, false stops", function()
  local d = synthetic(40, 11)
  local m = linear_model(4)
  local msg = T.raises(function()
    nm.train(m, d, {epochs = 3, batch = 10, on_batch = function(p)
      if p.step == 2 then error("stop at two") end
    end})
  end, "stop at two")
  T.ok(msg)
  T.raises(function()
    nm.train(m, d, {epochs = 3, batch = 10, on_epoch = function(p) error({}) end})
  end, "on_epoch")
  local seen = 0
  local p = nm.train(m, d, {epochs = 3, batch = 10, on_batch = function(p)
    seen = p.step
    return p.step < 3
  end})
  T.eq(seen, 3)
  T.eq(p.step, 3)
  T.eq(p.stopped, true)
  local p2 = nm.train(m, d, {epochs = 2, batch = 10, max_steps = 5})
  T.eq(p2.step, 5)
  T.eq(p2.stopped, nil)
end)

T.done()
