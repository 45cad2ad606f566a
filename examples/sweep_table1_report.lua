-- sweep_table1_report.lua: the table and the figure of a sweep_table1.lua
-- database: per method, mean and 95 % interval over seeds of the test
-- accuracy and of the measured MACs (nm.runs), and accuracy against
-- measured MACs with its Pareto front (PNG).
--
--   nmlab run examples/sweep_table1_report.lua table1.db [OUT.png]
--
-- nm.plot has no scatter chart: the figure is nm.plot.lines over the
-- methods' mean measured MACs (sorted), one series the methods' mean
-- accuracy, the other the Pareto front (the best mean accuracy at or below
-- those MACs); the table names the method at each point.
local db, out = arg[1], arg[2] or "table1_pareto.png"
if not db then error("usage: nmlab run sweep_table1_report.lua DB [OUT.png]", 0) end
local runs = assert(nm.runs.open(db))
local info = runs:info()
if info.name ~= "table1_fmnist" then
  error(db .. " holds sweep '" .. info.name .. "', not table1_fmnist", 0)
end

local acc = runs:group("acc", {by = {"method", "train_limit", "test_limit", "epochs"}})
local macs = runs:group("measured_macs_rel", {by = {"method", "train_limit", "test_limit", "epochs"}})
if #acc == 0 then error(db .. " has no finished (ok) points yet", 0) end
local rel = {}
for _, g in ipairs(macs) do
  rel[g.params.method .. "/" .. g.params.train_limit .. "/" .. g.params.test_limit .. "/" ..
      g.params.epochs] = g
end

print(string.format("%-14s %6s %6s %7s %5s %9s %8s %6s", "method", "train", "test", "epochs",
  "seeds", "acc %", "+- 95%", "MACs %"))
local pts = {}
for _, g in ipairs(acc) do
  local pr = g.params
  local m = rel[pr.method .. "/" .. pr.train_limit .. "/" .. pr.test_limit .. "/" .. pr.epochs]
  print(string.format("%-14s %6d %6d %7d %5d %9.2f %8s %6.1f", pr.method, pr.train_limit,
    pr.test_limit, pr.epochs, g.count, 100 * g.mean,
    g.ci95 and string.format("%.2f", 100 * g.ci95) or "n/a", 100 * m.mean))
  pts[#pts + 1] = {method = pr.method, x = 100 * m.mean, y = 100 * g.mean}
end
for _, p in ipairs(runs:points()) do
  if p.status ~= "ok" then
    print(string.format("  (%s seed %d: %s: %s)", p.params.method, p.seed, p.status,
      (p.error or ""):match("^[^\n]*")))
  end
end

-- The figure: methods by measured MACs, and the front.
table.sort(pts, function(a, b) return a.x < b.x end)
local xs, ys, front, best, names = {}, {}, {}, -math.huge, {}
for i, p in ipairs(pts) do
  -- equal MACs (they cannot be told apart on the axis): nudge the later one
  xs[i] = (i > 1 and p.x <= xs[i - 1]) and xs[i - 1] + 1e-6 or p.x
  ys[i] = p.y
  best = math.max(best, p.y)
  front[i] = best
  names[i] = string.format("%.1f%% %s", p.x, p.method)
end
local plot = nm.plot.lines{
  x = xs,
  series = {{name = "methods (mean over seeds)", values = ys},
            {name = "Pareto front", values = front}},
  title = "Fashion-MNIST CNN: accuracy vs measured MACs", xlabel = "measured MACs, % of dense",
  ylabel = "test accuracy, %", params = {db = db, spec_hash = info.spec_hash},
}
assert(plot:save(out))
print("points left to right: " .. table.concat(names, ", "))
print("wrote " .. out)
