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

T.case("a heatmap's cell size is counted before drawing", function()
  -- 100 x 100 cells of 30 pt (42 px at 100 dpi): over 4200 x 4200 px,
  -- some 70 MB: refused before the canvas is made
  local v = nm.tensor({100, 100}, 1)
  T.raises(function() nm.plot.heatmap{values = v, cell = 30} end, "not enough memory")
  -- small cells fit, and a table fitted at 300 dpi is counted at its size
  T.ok(nm.plot.heatmap{values = v, cell = 2}, "2 pt cells fit")
  local t = nm.plot.table{header = {"a", "b"}, rows = {{1, 2}}}
  T.eq(t:info().dpi, 300, "table at 300 dpi")
end)

T.done()
