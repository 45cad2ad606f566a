-- Checks a database made from tiny.lua against its CSV export, both parsed
-- here (tests/sweep/sweep.sh): check.lua DB CSV MODE
-- MODE first: statuses as the spec makes them; fixed: `raise` points are ok.
local db, csv, mode = arg[1], arg[2], arg[3]

-- RFC 4180, written for this test: quoted fields may hold commas, "" and
-- line breaks; records end with CRLF.
local function parse_csv(text)
  local rows, row, field, i, n = {}, {}, {}, 1, #text
  local quoted = false
  while i <= n do
    local c = text:sub(i, i)
    if quoted then
      if c == '"' and text:sub(i + 1, i + 1) == '"' then field[#field + 1] = '"'; i = i + 1
      elseif c == '"' then quoted = false
      else field[#field + 1] = c end
    elseif c == '"' then quoted = true
    elseif c == ',' then row[#row + 1] = table.concat(field); field = {}
    elseif c == '\r' and text:sub(i + 1, i + 1) == '\n' then
      row[#row + 1] = table.concat(field); field = {}
      rows[#rows + 1] = row; row = {}; i = i + 1
    else field[#field + 1] = c end
    i = i + 1
  end
  assert(#row == 0 and #field == 0, "CSV does not end with CRLF")
  return rows
end

local f = assert(io.open(csv, "rb"))
local rows = parse_csv(f:read("a"))
f:close()
local head = rows[1]
local col = {}
for i, h in ipairs(head) do col[h] = i end
for _, h in ipairs({"id", "sweep", "seed", "status", "error", "kind", "x", "y", "half", "good",
                    "note", "metric.kind"}) do
  assert(col[h], "CSV has no column " .. h)
end
assert(#rows == 17, "16 points expected, CSV has " .. (#rows - 1))

local want = {ok = "ok", raise = mode == "fixed" and "ok" or "error", exit = "crashed",
              spin = "timeout"}
local ids, seen = {}, {}
for r = 2, #rows do
  local row = rows[r]
  local kind, x, seed = row[col.kind], tonumber(row[col.x]), tonumber(row[col.seed])
  assert(row[col.sweep] == "tiny")
  assert(row[col.status] == want[kind], ("point %s: status %s, want %s"):format(row[col.id],
         row[col.status], want[kind]))
  assert(not seen[kind .. x .. "/" .. seed], "point listed twice")
  seen[kind .. x .. "/" .. seed] = true
  if row[col.status] == "ok" then
    assert(tonumber(row[col.y]) == x * 10 + seed, "y of " .. row[col.id])
    assert(tonumber(row[col.half]) == x / 2 and row[col.good] == "true")
    assert(row[col.note] == 'a, "quoted"\nline', "note: " .. row[col.note])
    assert(row[col["metric.kind"]] == kind)
    assert(row[col.error] == "")
  else
    assert(row[col.y] == "")
  end
  if kind == "raise" and mode ~= "fixed" then
    assert(row[col.error]:find("boom " .. x, 1, true), row[col.error])
  elseif kind == "exit" then
    assert(row[col.error]:find("status 3", 1, true), row[col.error])
  elseif kind == "spin" then
    assert(row[col.error]:find("time limit", 1, true), row[col.error])
  end
  ids[row[col.id]] = row
end

-- nm.runs on the same database: the same points, ids and statuses
local runs = assert(nm.runs.open(db))
assert(runs:info().name == "tiny" and runs:info().spec:find("boom", 1, true))
assert(runs:count() == 16)
local n = 0
for _, p in ipairs(runs:points()) do
  n = n + 1
  local row = assert(ids[p.id], "id " .. p.id .. " not in the CSV")
  assert(p.status == row[col.status] and p.seed == tonumber(row[col.seed]))
  assert(p.params.kind == row[col.kind] and p.params.x == tonumber(row[col.x]))
end
assert(n == 16)
-- the spec's order: keys sorted (kind, x), the last one fastest, seeds innermost
local order, kinds = {}, {"ok", "raise", "exit", "spin"}
for _, k in ipairs(kinds) do
  for _, x in ipairs({1, 2}) do
    for seed = 1, 2 do order[#order + 1] = k .. x .. "/" .. seed end
  end
end
for i, p in ipairs(runs:points()) do
  assert(p.params.kind .. p.params.x .. "/" .. p.seed == order[i], "point " .. i .. " out of order")
end
assert(runs:count("ok") == (mode == "fixed" and 8 or 4))
assert(#runs:points({status = "timeout", params = {x = 2}}) == 2)
assert(#runs:points({params = {kind = "ok", x = 1}}) == 2)

-- group: y = 10 x + seed over seeds 1 and 2: mean 10 x + 1.5, sample std
-- sqrt(0.5), ci95 = t(0.975, 1) sqrt(0.5) / sqrt(2) = 12.706 / 2
local groups = runs:group("y")
assert(#groups == (mode == "fixed" and 4 or 2), "groups: " .. #groups)
for _, g in ipairs(groups) do
  assert(g.count == 2)
  assert(math.abs(g.mean - (10 * g.params.x + 1.5)) < 1e-12)
  assert(math.abs(g.std - math.sqrt(0.5)) < 1e-12)
  assert(math.abs(g.ci95 - 12.706 / 2) < 1e-9)
  assert(g.min == 10 * g.params.x + 1 and g.max == 10 * g.params.x + 2)
  assert(g.params.seed == nil)
end
-- grouped by kind alone: y in {11, 12, 21, 22}: mean 16.5, std from the
-- definition
local byk = runs:group("y", {by = {"kind"}})
local g = byk[1]
assert(g.params.kind == "ok" and g.params.x == nil and g.count == 4 and g.mean == 16.5)
local ss = 0
for _, y in ipairs({11, 12, 21, 22}) do ss = ss + (y - 16.5) ^ 2 end
assert(math.abs(g.std - math.sqrt(ss / 3)) < 1e-12)
assert(math.abs(g.ci95 - 3.182 * g.std / 2) < 1e-9)
assert(#runs:group("no_such_metric") == 0)

-- Pareto fronts against brute force: a point is on the front when no
-- other point is at least as good in both metrics and better in one (of
-- equal points, the first); the 2 x 2 goals over metrics half and y
local oks = runs:points("ok")
for _, gx in ipairs({"min", "max"}) do
  for _, gy in ipairs({"min", "max"}) do
    local function better(a, b, goal) return goal == "min" and a < b or goal == "max" and a > b end
    local want = {}
    for i, p in ipairs(oks) do
      local on = true
      for j, q in ipairs(oks) do
        local x1, y1, x2, y2 = p.metrics.half, p.metrics.y, q.metrics.half, q.metrics.y
        local ge = not better(x1, x2, gx) and not better(y1, y2, gy)
        if j ~= i and ge and (better(x2, x1, gx) or better(y2, y1, gy) or j < i) then on = false end
      end
      if on then want[p.id] = true end
    end
    local front, nwant = runs:pareto("half", "y", {x = gx, y = gy}), 0
    for _ in pairs(want) do nwant = nwant + 1 end
    assert(#front == nwant and nwant > 0, ("pareto %s/%s: %d points, want %d"):format(gx, gy, #front, nwant))
    for i, p in ipairs(front) do
      assert(want[p.id], "pareto: " .. p.id .. " is dominated")
      if i > 1 then assert(not better(front[i - 1].metrics.half, p.metrics.half, gx == "min" and "max" or "min")) end
    end
  end
end
-- half in {0.5, 1}, y = 10 x + seed: the default goals (small half, large
-- y) keep (0.5, 12) and (1, 22), by hand
local f = runs:pareto("half", "y")
assert(#f == 2 and f[1].metrics.y == 12 and f[2].metrics.y == 22)
assert(not pcall(runs.pareto, runs, "half", "y", {x = "up"}), "a bad goal must raise")
assert(not pcall(runs.points, runs, "bogus"), "a bad status must raise")
runs:close()
assert(not pcall(runs.count, runs), "a closed database must raise")
print("check.lua: ok (" .. mode .. ")")
