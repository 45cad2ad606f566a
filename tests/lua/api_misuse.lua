-- Calls that misused the Lua API and crashed, overflowed or hung before
-- their fix (found by tests/fuzz/fuzz_lua_api.c or while writing it): each
-- must now raise a clear error naming what was wrong. The fuzz corpus
-- (tests/fuzz/corpus/lua_api/) keeps a reproducer of each as well.
local T = require "nm.test"

-- nm.sim.equal_area with a huge or infinite budget converted sqrt(budget /
-- PE area) to int (undefined behaviour past 2^31) and returned systems of
-- any side, past nm.sim.system's 4096x4096 limit.
T.case("equal_area: budget past a 4096x4096 array", function()
  for _, budget in ipairs{1e308, 1 / 0, 1e12} do
    T.raises(function() nm.sim.equal_area({"pmac"}, {budget = budget}) end,
      "holds more than a 4096x4096 array")
  end
  local big = nm.sim.system{mac = "pmac", rows = 4096}
  -- the limit itself still fits: a 4096x4096 pMAC's own area
  local sides = nm.sim.equal_area({"pmac"}, {budget = big})
  T.eq(sides[1], 4096)
  T.raises(function() nm.sim.equal_area({"pmac"}, {budget = 1e-300}) end, "no PE fits")
end)

-- nm.summary of anything but a model failed inside nm.pretty with
-- "attempt to call a nil value (method 'stats')".
T.case("summary: not a model", function()
  T.raises(function() nm.summary(nm.tensor({2})) end, "nm.model expected, got nm.tensor")
  T.raises(function() nm.summary(nil) end, "nm.model expected, got nil")
  T.raises(function() nm.summary({stats = 1}) end, "nm.model expected, got table")
  local m = nm.model("tiny", {1, 4, 4})
  m:add("conv", "conv1", {out = 2, k = 3, pad = 1})
  T.raises(function() nm.summary(m:layer(1)) end, "nm.model expected, got nm.layer")
  T.ok(nm.summary(m):find("conv1", 1, true))
  m:free()
  T.raises(function() nm.summary(m) end, "model has been freed")
end)

-- nm.data.from_tensors with more than 2^20 classes said "classes must be
-- at least 2".
T.case("from_tensors: classes out of range", function()
  local x, y = nm.tensor({2, 1, 2, 2}, 1), nm.tensor({2}, 1, "i32")
  for _, c in ipairs{1, 0, -5, 2 ^ 31 - 1, (1 << 20) + 1} do
    T.raises(function() nm.data.from_tensors(x, y, c) end, "classes must be an integer in 2..1048576")
  end
  T.eq(#nm.data.from_tensors(x, y, 2), 2)
end)

-- nm.sim.format_compare read a row's system and model with lua_tostring
-- and popped them: a number, or a string made by an __index metamethod, was
-- then referenced nowhere and the collector freed it while the C code
-- still formatted it (ASan: heap-use-after-free in l_format_compare).
T.case("format_compare: rows whose strings only the stack holds", function()
  collectgarbage("incremental", 0, 1000, 0)   -- collect as often as possible
  local rows = {}
  for i = 1, 200 do
    rows[i] = setmetatable({}, {__index = function(_, k)
      if k == "system" or k == "model" then return ("%s-%d-%s"):format(k, i, ("y"):rep(40)) end
      if k == "switches" then return 1000 + i end
    end})
  end
  for _ = 1, 10 do
    local text = nm.sim.format_compare(rows)
    for i = 1, 200 do
      T.ok(text:find(("model-%d-%s system-%d-"):format(i, ("y"):rep(40), i), 1, true), "row " .. i)
      T.ok(text:find("  " .. (1000 + i) .. "\n", 1, true), "switches " .. i)
    end
  end
  collectgarbage("incremental", 200, 100, 13)
  -- numbers as names; a switches value that is no string shows as ?
  -- (it raised "attempt to concatenate a table value")
  local text = nm.sim.format_compare({{system = 424242, model = 777, switches = {}}})
  T.ok(text:find("777", 1, true) and text:find("424242", 1, true), "numbers as names")
  T.ok(text:find("  ?\n", 1, true), "a switches table shows as ?")
end)

-- nm.sim.system's string options (mac, dataflow, ...) were read and
-- popped; one made by an __index metamethod was then freed while the
-- binding still used it (ASan heap-use-after-free formatting the error
-- for mac = '<bad name>' with d given).
T.case("sim.system: string options made by __index", function()
  collectgarbage("incremental", 0, 1000, 0)
  for i = 1, 200 do
    local opts = setmetatable({}, {__index = function(_, k)
      if k == "mac" then return ("bogus-mac-%d-%s"):format(i, ("m"):rep(60)) end
      if k == "d" then
        for j = 1, 50 do local _ = {j, ("g"):rep(j)} end   -- garbage: the collector runs
        return {2, 4}
      end
    end})
    T.raises(function() nm.sim.system(opts) end, ("mac='bogus-mac-%d-%s'"):format(i, ("m"):rep(60)))
  end
  collectgarbage("incremental", 200, 100, 13)
  local sys = nm.sim.system(setmetatable({rows = 4}, {__index = function(_, k)
    if k == "mac" then return "n" .. "m" elseif k == "dataflow" then return "o" .. "s" end
  end}))
  T.ok(tostring(sys):find("dataflow=os", 1, true), tostring(sys))
end)

T.done()
