-- Checks a reduced examples/sweep_table1.lua database (tests/sweep/table1.sh):
-- every method x seed ok, densities ordered as the methods prune, and
-- runs:group's mean and 95 % interval against a computation here.
-- table1_check.lua DB SEEDS
local db, seeds = arg[1], math.tointeger(tonumber(arg[2]))
local runs = assert(nm.runs.open(db))
assert(runs:info().name == "table1_fmnist", "sweep name")
local methods = {"dense", "nm4", "nm3", "srste", "slim", "jnf442_first", "jnf442_topk",
                 "jnf641_first", "jnf641_topk"}
assert(runs:count("ok") == #methods * seeds,
  ("%d points ok, want %d"):format(runs:count("ok"), #methods * seeds))
local by = {}
for _, p in ipairs(runs:points("ok")) do
  local t = by[p.params.method] or {}
  by[p.params.method] = t
  t[#t + 1] = p.metrics
  assert(p.metrics.ft_steps * 64 >= p.metrics.train_images, "less than one epoch of fine-tuning")
end
local function mean(m, k)
  local s = 0
  for _, x in ipairs(by[m]) do s = s + x[k] end
  return s / #by[m]
end
for _, m in ipairs(methods) do assert(by[m] and #by[m] == seeds, m .. ": not every seed") end
-- pruning removes weights; fewer kept weights for 3:9 than for 4:9
assert(mean("dense", "weight_density") > 0.99, "dense lost weights")
assert(mean("nm3", "weight_density") < mean("nm4", "weight_density"), "nm3 not below nm4")
assert(mean("nm4", "weight_density") < 0.6, "nm4 keeps too much")
for _, m in ipairs{"srste", "slim", "jnf442_first", "jnf641_topk"} do
  assert(mean(m, "measured_macs_rel") < mean("dense", "measured_macs_rel"), m .. ": MACs not below dense")
end
-- group: mean and ci95 = t(0.975, n-1) * s / sqrt(n), s the sample std
local t975 = {12.706, 4.303, 3.182, 2.776}
for _, g in ipairs(runs:group("acc", {by = {"method"}})) do
  local xs = by[g.params.method]
  local mu = mean(g.params.method, "acc")
  assert(math.abs(g.mean - mu) < 1e-12, g.params.method .. ": mean")
  if seeds > 1 then
    local ss = 0
    for _, x in ipairs(xs) do ss = ss + (x.acc - mu) ^ 2 end
    local ci = t975[seeds - 1] * math.sqrt(ss / (seeds - 1)) / math.sqrt(seeds)
    assert(math.abs(g.ci95 - ci) < 1e-3 * math.max(ci, 1e-9) + 1e-12,
      ("%s: ci95 %g, want %g"):format(g.params.method, g.ci95, ci))
  end
end
print("table1_check: ok")
