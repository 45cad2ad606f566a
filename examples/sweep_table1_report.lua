-- sweep_table1_report.lua: the table and the figure of a sweep_table1.lua
-- database: per method, mean and 95 % interval over seeds of the test
-- accuracy and of the measured MACs (nm.runs), and accuracy against
-- measured MACs with its Pareto front (PNG, nm.plot.pareto: the means over
-- the seeds with their 95 % intervals, each point named by its method).
--
--   nmlab run examples/sweep_table1_report.lua table1.db [OUT.png]
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
for _, g in ipairs(acc) do
  local pr = g.params
  local m = rel[pr.method .. "/" .. pr.train_limit .. "/" .. pr.test_limit .. "/" .. pr.epochs]
  print(string.format("%-14s %6d %6d %7d %5d %9.2f %8s %6.1f", pr.method, pr.train_limit,
    pr.test_limit, pr.epochs, g.count, 100 * g.mean,
    g.ci95 and string.format("%.2f", 100 * g.ci95) or "n/a", 100 * m.mean))
end
for _, p in ipairs(runs:points()) do
  if p.status ~= "ok" then
    print(string.format("  (%s seed %d: %s: %s)", p.params.method, p.seed, p.status,
      (p.error or ""):match("^[^\n]*")))
  end
end

-- The figure: each method's mean accuracy against its mean measured MACs,
-- the 95 % intervals as error bars, and the Pareto front of the means.
local plot, d = nm.plot.pareto(runs, "measured_macs_rel", "acc", {
  group = true, labels = "method", out = out,
  title = "Fashion-MNIST CNN: accuracy vs measured MACs",
  xlabel = "measured MACs, fraction of dense (lower is better)",
  ylabel = "test accuracy (higher is better)", params = {db = db, spec_hash = info.spec_hash},
})
if not plot then error(d, 0) end
local names = {}
for i, g in ipairs(d.front) do
  names[i] = string.format("%.1f%% %s", 100 * g.x.mean, g.params.method)
end
print("Pareto front, fewest MACs first: " .. table.concat(names, ", "))
print("wrote " .. out)
