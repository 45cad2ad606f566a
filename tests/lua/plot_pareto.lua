-- nm.plot.pareto: a real sweep (`nmlab sweep`, run here as a child
-- process; arg[1] = the nmlab executable) of a small spec written below,
-- read back with nm.runs and drawn: the PNG's header is read back here
-- (signature, IHDR size), the front equals runs:pareto's and a brute-force
-- dominance check, group = true draws runs:group's means and intervals,
-- and a plain array of points works the same way. Bad input raises naming
-- what was wrong; an unwritable file returns nil and a message and leaves
-- nothing behind.
local T = require "nm.test"
local nmlab = assert(arg[1], "usage: nmlab run plot_pareto.lua NMLAB")

local SIG = "\137PNG\r\n\26\n"
local function sh_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end
local dir = os.tmpname(); os.remove(dir)
assert(os.execute("mkdir -p " .. sh_quote(dir)))

local function slurp(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

-- width, height of PNG bytes from the IHDR chunk (the first after the signature)
local function png_size(s)
  T.eq(s:sub(1, 8), SIG, "PNG signature")
  local len, typ = string.unpack(">I4c4", s, 9)
  T.eq(typ, "IHDR", "first chunk")
  T.eq(len, 13, "IHDR length")
  local w, h = string.unpack(">I4I4", s, 17)
  return w, h
end

local function listdir(d)
  local p = assert(io.popen("ls -A " .. sh_quote(d)))
  local names = {}
  for l in p:lines() do names[#names + 1] = l end
  p:close()
  table.sort(names)
  return table.concat(names, " ")
end

-- The spec: cost = n * m, quality falling with m and rising with n, a
-- little seed noise; point n=3,m=8 fails on seed 2; n=1,m=4 has a
-- non-finite `odd` metric (stored as null); `name` is a string metric.
local spec = dir .. "/pareto_spec.lua"
local f = assert(io.open(spec, "w"))
f:write([[
return {
  name = "pareto_tiny",
  params = {n = {1, 2, 3}, m = {4, 8}},
  seeds = 2,
  run = function(p)
    if p.n == 3 and p.m == 8 and p.seed == 2 then error("planned failure") end
    return {macs = p.n * p.m, acc = 0.5 + 0.1 * p.n - 0.02 * p.m + 0.001 * p.seed,
            odd = (p.n == 1 and p.m == 4) and 0 / 0 or p.n, name = "s" .. p.n}
  end,
}
]])
f:close()
local db = dir .. "/pareto.db"
local sw = assert(io.popen("cd " .. sh_quote(dir) .. " && " .. sh_quote(nmlab) .. " sweep " ..
  sh_quote(spec) .. " --db " .. sh_quote(db) .. " -j 1 2>&1"))
local log = sw:read("a")
sw:close()
local runs = assert(nm.runs.open(db))
T.eq(runs:count("ok"), 11, "11 ok points:\n" .. log)
T.eq(runs:count("error"), 1, "one failed point")

-- brute force: point i is on the front unless another point is at least
-- as good in both and better in one, or equal and earlier
local function brute_front(xs, ys, x_min, y_max)
  local on = {}
  for i = 1, #xs do
    local xi = x_min and xs[i] or -xs[i]
    local yi = y_max and -ys[i] or ys[i]
    on[i] = true
    for j = 1, #xs do
      local xj = x_min and xs[j] or -xs[j]
      local yj = y_max and -ys[j] or ys[j]
      if j ~= i and xj <= xi and yj <= yi and (xj < xi or yj < yi or j < i) then on[i] = false end
    end
  end
  return on
end

T.case("runs: the PNG and the front of runs:pareto", function()
  local out = dir .. "/front.png"
  local p, d = nm.plot.pareto(runs, "macs", "acc", {out = out, width = 640, height = 400,
                                                    title = "tiny"})
  T.ok(p, d)
  T.eq(tostring(p), "nm.plot pareto")
  T.eq({png_size(assert(slurp(out)))}, {640, 400}, "IHDR size")
  local rp = runs:pareto("macs", "acc")
  T.ok(#rp >= 2, "a front of several points")
  T.eq(#d.front, #rp, "front size")
  for i, pt in ipairs(rp) do T.eq(d.front[i].id, pt.id, "front point " .. i) end
  -- every ok point is drawn, and its flag agrees with brute force
  T.eq(#d.points, 11)
  T.eq(d.skipped, 0)
  local xs, ys = {}, {}
  for i, q in ipairs(d.points) do
    T.eq(q.x, q.entry.metrics.macs)
    T.eq(q.y, q.entry.metrics.acc)
    xs[i], ys[i] = q.x, q.y
  end
  local on = brute_front(xs, ys, true, true)
  for i, q in ipairs(d.points) do T.eq(q.front, on[i], "front flag of point " .. i) end
  -- path is out's other name; both at once is refused
  local out2 = dir .. "/front2.png"
  local p2 = nm.plot.pareto(runs, "macs", "acc", {path = out2, width = 320, height = 240})
  T.ok(p2)
  T.eq({png_size(assert(slurp(out2)))}, {320, 240})
  T.raises(function() nm.plot.pareto(runs, "macs", "acc", {out = out, path = out2}) end,
    "give out or path, not both")
end)

T.case("runs: other goals match runs:pareto too", function()
  for _, g in ipairs({{x = "max", y = "max"}, {x = "min", y = "min"}, {x = "max", y = "min"}}) do
    local _, d = nm.plot.pareto(runs, "macs", "acc", g)
    local rp = runs:pareto("macs", "acc", g)
    T.eq(#d.front, #rp, g.x .. "/" .. g.y)
    for i, pt in ipairs(rp) do T.eq(d.front[i].id, pt.id) end
  end
end)

T.case("runs: a null metric is skipped, a label param annotates", function()
  local _, d = nm.plot.pareto(runs, "macs", "odd", {labels = "n"})
  T.eq(d.skipped, 2, "the two seeds of n=1,m=4 have no odd")
  T.eq(#d.points, 9)
  for _, q in ipairs(d.points) do T.eq(q.label, tostring(q.entry.params.n)) end
  local rp = runs:pareto("macs", "odd")
  T.eq(#d.front, #rp)
  for i, pt in ipairs(rp) do T.eq(d.front[i].id, pt.id) end
end)

T.case("runs: group = true draws runs:group's means and intervals", function()
  local out = dir .. "/group.png"
  local p, d = nm.plot.pareto(runs, "macs", "acc", {group = true, labels = "m", out = out})
  T.ok(p, d)
  local w, h = png_size(assert(slurp(out)))
  T.eq({w, h}, {800, 500}, "default 8 x 5 inches at 100 dpi")
  local ga = runs:group("acc")
  T.eq(#d.points, #ga, "one point per group")
  T.eq(#ga, 6)
  for i, g in ipairs(ga) do
    local q = d.points[i]
    T.eq(q.entry.params, g.params)
    T.eq(q.y, g.mean)
    T.eq(q.yerr, g.ci95 or 0, "the 95 % interval, 0 for one seed")
    T.eq(q.x, q.entry.params.n * q.entry.params.m, "macs equal over the seeds")
    T.eq(q.xerr, 0)
    T.eq(q.label, tostring(g.params.m))
  end
  -- the group with one ok seed (n=3,m=8) has no interval
  local one = 0
  for _, q in ipairs(d.points) do if q.entry.count == 1 then one = one + 1; T.eq(q.yerr, 0) end end
  T.eq(one, 1)
  -- the front of the means, by brute force
  local xs, ys = {}, {}
  for i, q in ipairs(d.points) do xs[i], ys[i] = q.x, q.y end
  local on = brute_front(xs, ys, true, true)
  local n = 0
  for i, q in ipairs(d.points) do
    T.eq(q.front, on[i], "group " .. i)
    if on[i] then n = n + 1 end
  end
  T.eq(#d.front, n)
end)

T.case("points: a plain array, labels, bars, goals", function()
  local pts = {{x = 3, y = 0.9, label = "c"}, {x = 1, y = 0.5, label = "a"},
               {x = 2, y = 0.95, label = "b", yerr = 0.02}, {x = 2, y = 0.6}, {x = 4, y = 0.9}}
  local out = dir .. "/points.png"
  local p, d = nm.plot.pareto(pts, "MACs", "accuracy", {out = out, width = 500, height = 300})
  T.ok(p, d)
  T.eq({png_size(assert(slurp(out)))}, {500, 300})
  local names = {}
  for i, q in ipairs(d.front) do names[i] = q.label end
  T.eq(names, {"a", "b"}, "(1, 0.5) and (2, 0.95); (3, 0.9) is dominated by b")
  T.eq(d.points[3].yerr, 0.02)
  T.eq(d.points[1].label, "c")
  T.ok(d.front[1] == pts[2], "front entries are the caller's tables")
  local xs, ys = {}, {}
  for i, q in ipairs(pts) do xs[i], ys[i] = q.x, q.y end
  for _, g in ipairs({{"min", "max"}, {"max", "max"}, {"min", "min"}, {"max", "min"}}) do
    local _, dd = nm.plot.pareto(pts, {x = g[1], y = g[2]})
    local on = brute_front(xs, ys, g[1] == "min", g[2] == "max")
    for i, q in ipairs(dd.points) do T.eq(q.front, on[i], g[1] .. "/" .. g[2] .. " point " .. i) end
  end
  -- one point; equal points: the first is on the front
  local _, d1 = nm.plot.pareto({{x = 1, y = 1}})
  T.eq(#d1.front, 1)
  local _, d2 = nm.plot.pareto({{x = 1, y = 1}, {x = 1, y = 1}})
  T.eq({d2.points[1].front, d2.points[2].front}, {true, false})
end)

T.case("bad input is named", function()
  T.raises(function() nm.plot.pareto(runs, "macs", "nope") end,
    "no point has a numeric metric 'nope' (metrics: acc, macs, name, odd)")
  T.raises(function() nm.plot.pareto(runs, "name", "acc") end, "metric 'name' of point")
  T.raises(function() nm.plot.pareto(runs, "name", "acc") end, "is a string, not a number")
  T.raises(function() nm.plot.pareto(runs, "macs", "acc", {status = "timeout"}) end,
    "holds no 'timeout' points (12 points in all)")
  T.raises(function() nm.plot.pareto(runs, "macs", "acc", {status = "bogus"}) end,
    "status 'bogus' is not ok, error, crashed or timeout")
  T.raises(function() nm.plot.pareto(runs, "macs", "acc", {labels = "zz"}) end,
    "labels: no point has a param 'zz' (params: m, n)")
  T.raises(function() nm.plot.pareto(runs, "macs", "acc", {x = "least"}) end,
    "x must be 'min' or 'max'")
  T.raises(function() nm.plot.pareto(runs, "macs") end, "bad argument #3")
  T.raises(function() nm.plot.pareto({}) end, "no points (an empty table")
  T.raises(function() nm.plot.pareto({{x = 1, y = 0 / 0}}) end, "points[1].y is NaN")
  T.raises(function() nm.plot.pareto({{x = 1, y = 1}, {x = math.huge, y = 1}}) end,
    "points[2].x is infinite")
  T.raises(function() nm.plot.pareto({{x = 1, y = "a"}}) end, "points[1].y must be a number, not string")
  T.raises(function() nm.plot.pareto({{x = 1, y = 1, yerr = -1}}) end, "points[1].yerr is negative")
  T.raises(function() nm.plot.pareto({1, 2}) end, "points[1] must be a table")
  T.raises(function() nm.plot.pareto({{x = 1, y = 1}}, {group = true}) end, "group needs an nm.runs")
  T.raises(function() nm.plot.pareto(42) end, "an nm.runs object or a table of points")
  -- a file that cannot be written: nil and a message naming it, nothing left behind
  local before = listdir(dir)
  local bad = dir .. "/no/such/dir/x.png"
  local p, msg = nm.plot.pareto({{x = 1, y = 1}}, {out = bad})
  T.eq(p, nil)
  T.ok(tostring(msg):find(bad, 1, true), msg)
  T.eq(listdir(dir), before, "no file or temporary file left")
  -- a closed database raises
  local r2 = assert(nm.runs.open(db))
  r2:close()
  T.raises(function() nm.plot.pareto(r2, "macs", "acc") end, "the database is closed")
end)

runs:close()
os.execute("rm -rf " .. sh_quote(dir))
T.done()
