-- nm.speedup under --mem-limit 32M: a layer whose activation at batch 64
-- (576 x 262144 floats, 600 MB) cannot fit is listed as skipped with the
-- limit's message, the small layer beside it still runs, and nothing stays
-- charged afterwards.
local T = require "nm.test"

T.case("a layer too large for the memory limit is skipped, not a crash", function()
  local m <close> = nm.model("big", {64, 64, 64})
  m:add("conv", "small", {out = 8, k = 1, input = "input"})
  m:add("conv", "big", {out = 64, k = 3, pad = 1, input = "input"})
  m:init_weights(1)
  nm.prune.nm(m, {n = 2, m = 4, include_first = true, include_last = true})
  local before = nm.memory().engine
  local rows, total = nm.speedup(m, {reps = 1, batch = 64, layers = {"big"}})
  T.eq(#rows, 1)
  T.ok(rows[1].skipped and rows[1].skipped:find("memory limit"), rows[1].skipped)
  T.eq(total.ran, 0)
  rows = nm.speedup(m, {reps = 1, batch = 1, layers = {"small"}})
  T.ok(not rows[1].skipped, rows[1].skipped)
  T.eq(nm.memory().engine, before, "nothing left charged")
end)

T.done()
