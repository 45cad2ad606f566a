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

T.done()
