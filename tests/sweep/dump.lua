-- Prints a sweep database's points, one line each in the spec's order,
-- without the fields that differ between runs (started, ended, host):
-- id, seed, status, params, error's first line and the metrics sorted by
-- name (tests/sweep/mpi.sh compares two databases this way). dump.lua DB
local runs = assert(nm.runs.open(arg[1]))
local function kv(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  for i, k in ipairs(keys) do keys[i] = k .. "=" .. string.format("%q", t[k]):gsub("\n", "n") end
  return table.concat(keys, " ")
end
local n = 0
for _, p in ipairs(runs:points()) do
  print(p.id, p.seed, p.status, kv(p.params), (p.error or ""):match("^[^\n]*"), kv(p.metrics))
  n = n + 1
end
assert(n > 0, arg[1] .. " holds no points")
