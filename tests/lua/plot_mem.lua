-- nm.plot under `--mem-limit 16M` (see tests/lua/meson.build): a figure's
-- pixels (width x height x 4 bytes) count against the limit while its plot
-- object lives, and are given back by :free() or the collector.
local T = require "nm.test"

local function fig(w, h)
  return nm.plot.bars{groups = {"a", "b"}, series = {{name = "x", values = {1, 2}}},
    width = w, height = h}
end

T.case("a figure over the limit raises", function()
  -- 3000 x 2000 x 4 = 24 MB > 16 MB
  T.raises(function() fig(3000, 2000) end, "not enough memory")
end)

T.case("dropped figures are reclaimed", function()
  -- 1600 x 1000 x 4 = 6.4 MB each: 20 of them (128 MB) only fit if the
  -- collector gives back what dropped handles counted
  for _ = 1, 20 do fig(1600, 1000) end
end)

T.case("freed figures are given back at once", function()
  local held = {}
  for i = 1, 2 do held[i] = fig(1600, 1000) end      -- 12.8 MB held
  T.raises(function() fig(1600, 1000) end, "not enough memory")
  held[1]:free()
  local p = fig(1600, 1000)
  T.ok(p, "fits after free")
end)

T.done()
