-- nm.train, model:evaluate, model:forward, nm.data, nm.dataset. Expected
-- figures come from independent computations in Lua (argmax of forward
-- outputs, counts of nonzero values), not from the engine's own results.
local T = require "nm.test"

-- 4 classes: which quadrant of a 6x6 image has the largest sum.
local function quadrants(n, seed)
  local x = nm.tensor({n, 1, 6, 6})
  local y = nm.tensor({n}, 0, "i32")
  local s = seed
  local function rnd() s = (s * 1103515245 + 12345) % 2147483648; return s / 2147483648 - 0.5 end
  for i = 1, n do
    local q = {0, 0, 0, 0}
    for r = 1, 6 do
      for c = 1, 6 do
        local v = rnd()
        x:set(i, 1, r, c, v)
        local k = (r > 3 and 2 or 0) + (c > 3 and 2 or 1)
        q[k] = q[k] + v
      end
    end
    local best = 1
    for k = 2, 4 do if q[k] > q[best] then best = k end end
    y:set(i, best - 1)
  end
  return nm.dataset(x, y, 4, "quadrants")
end

local function small_net()
  local m = nm.model("small", {1, 6, 6})
  m:add("conv", "c1", {out = 8, k = 3, pad = 1})
  m:add("bn", "bn1")
  m:add("relu", "r1")
  m:add("maxpool", "p1", {k = 2})
  m:add("flatten", "f")
  m:add("linear", "fc1", {out = 16})
  m:add("relu", "r2")
  m:add("linear", "fc2", {out = 4})
  m:init_weights(2)
  return m
end

local train, val = quadrants(300, 1), quadrants(120, 2)

T.case("datasets", function()
  T.eq(#train, 300)
  T.eq(train:size(), 300)
  T.eq(train:classes(), 4)
  T.eq(train:images():shape(), {300, 1, 6, 6})
  T.ok(tostring(train):find("300 images of (1, 6, 6), 4 classes", 1, true), tostring(train))
  T.raises(function() nm.dataset(nm.tensor({3, 1, 2, 2}), nm.tensor({3}, 9, "i32"), 4) end,
           "label 9 of sample 0")
  local d, err = nm.data.fashion_mnist({dir = "/nonexistent/fmnist"})
  T.eq(d, nil)
  T.ok(err:find("dataset-fashion-mnist", 1, true), err)
end)

T.case("fashion-mnist test set", function()
  local d = assert(nm.data.fashion_mnist({train = false, limit = 50}))
  T.eq(#d, 50)
  T.eq(d:classes(), 10)
  T.eq(d:images():shape(), {50, 1, 28, 28})
  local l = d:labels()
  for i = 1, 50 do T.ok(l:get(i) >= 0 and l:get(i) <= 9) end
  d:free()
  T.raises(function() return #d end, "freed")
end)

T.case("training learns; evaluate agrees with forward", function()
  local m = small_net()
  local epochs = {}
  local r = nm.train(m, train, {epochs = 6, batch = 20, lr = 0.05, val = val,
                                on_epoch = function(p) epochs[#epochs + 1] = p.val_acc end})
  T.eq(r.step, 6 * 15)
  T.eq(#epochs, 6)
  T.ok(r.val_acc > 0.6, "held-out accuracy " .. r.val_acc .. " (chance 0.25)")
  local acc, loss = m:evaluate(val)
  T.near(acc, r.val_acc, 1e-12)
  -- accuracy again, from forward outputs and an argmax in Lua
  local out = m:forward(val:images())
  T.eq(out:shape(), {120, 4, 1, 1})
  local labels, right, nll = val:labels(), 0, 0
  for i = 1, 120 do
    local best, z = 1, 0
    for k = 2, 4 do if out:get(i, k, 1, 1) > out:get(i, best, 1, 1) then best = k end end
    for k = 1, 4 do z = z + math.exp(out:get(i, k, 1, 1)) end
    if best - 1 == labels:get(i) then right = right + 1 end
    nll = nll - (out:get(i, labels:get(i) + 1, 1, 1) - math.log(z))
  end
  T.near(acc, right / 120, 1e-12)
  T.near(loss, nll / 120, 1e-4)
end)

T.case("densities by count", function()
  local m = nm.model("d", {1, 6, 6})
  m:add("flatten", "f")
  m:add("relu", "r")
  local _, _, dens = m:evaluate(val, {density = true, batch = 32})
  local x, pos = val:images(), 0
  for i = 1, 120 do
    for r = 1, 6 do for c = 1, 6 do if x:get(i, 1, r, c) > 0 then pos = pos + 1 end end end
  end
  T.near(dens.r, pos / (120 * 36), 1e-12)
  T.near(dens.f, 1, 1e-12)
end)

T.case("callbacks stop and errors propagate", function()
  local m = small_net()
  local r = nm.train(m, train, {epochs = 5, batch = 20,
                                on_batch = function(p) return p.step >= 2 end})
  T.eq(r.stopped, true)
  T.eq(r.step, 2)
  T.raises(function()
    nm.train(m, train, {on_batch = function() error("boom in callback") end})
  end, "boom in callback")
  T.raises(function() nm.train(m, train, {epoch = 2}) end, "unknown option 'epoch'")
  T.raises(function() nm.train(m, train, {optim = "lbfgs"}) end, "unknown value 'lbfgs'")
  T.raises(function() nm.train(m, train, {lr = -1}) end, "learning rate")
  T.raises(function() m:forward(nm.tensor({2, 3, 6, 6})) end, "does not match")
end)

T.case("SR-STE leaves 2:4 weights", function()
  local m = small_net()
  nm.train(m, train, {epochs = 1, batch = 30, srste = 2e-4, srste_n = 2, srste_m = 4})
  local w = m:layer("fc1").weight
  local shape = w:shape()
  for o = 1, shape[1] do
    for g = 1, shape[2], 4 do
      local nz = 0
      for j = g, math.min(g + 3, shape[2]) do if w:get(o, j) ~= 0 then nz = nz + 1 end end
      T.ok(nz <= 2, "row " .. o .. " group " .. g .. " has " .. nz .. " nonzeros")
    end
  end
end)

T.done()
