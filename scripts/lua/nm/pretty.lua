-- nm.pretty: text rendering of numbers, tables of rows and model statistics.
local M = {}

--- M.count(n) -> "11.69M": an integer with a K/M/G suffix (3 significant digits).
function M.count(n)
  local a = math.abs(n)
  for _, u in ipairs { { 1e12, "T" }, { 1e9, "G" }, { 1e6, "M" }, { 1e3, "K" } } do
    if a >= u[1] then
      return string.format("%.3g%s", n / u[1], u[2])
    end
  end
  return string.format("%d", n)
end

--- M.percent(x) -> "43.8%"
function M.percent(x)
  return string.format("%.1f%%", 100 * x)
end

local function cell(v)
  if math.type(v) == "float" then
    return string.format("%.4g", v)
  end
  return tostring(v == nil and "" or v)
end

--- M.table(rows, columns) -> string. columns: array of {key, title [, fmt]}
--- where fmt(value, row) formats a cell; numbers are right-aligned.
function M.table(rows, columns)
  local widths, cells, right = {}, {}, {}
  for c, col in ipairs(columns) do
    widths[c] = #col[2]
  end
  for r, row in ipairs(rows) do
    cells[r] = {}
    for c, col in ipairs(columns) do
      local v = row[col[1]]
      local s = col[3] and col[3](v, row) or cell(v)
      if type(v) == "number" then right[c] = true end
      cells[r][c] = s
      if #s > widths[c] then widths[c] = #s end
    end
  end
  local function line(values)
    local parts = {}
    for c = 1, #columns do
      local fmt = right[c] and "%" .. widths[c] .. "s" or "%-" .. widths[c] .. "s"
      parts[c] = string.format(fmt, values[c])
    end
    return (table.concat(parts, "  "):gsub("%s+$", ""))
  end
  local out, titles = {}, {}
  for c, col in ipairs(columns) do titles[c] = col[2] end
  out[1] = line(titles)
  for r = 1, #rows do out[#out + 1] = line(cells[r]) end
  return table.concat(out, "\n")
end

local stats_columns = {
  { "index", "#" },
  { "name", "layer" },
  { "kind", "kind" },
  { "out_shape", "output" },
  { "weight_shape", "weight" },
  { "params", "params", function(v) return v > 0 and M.count(v) or "" end },
  { "density", "density", function(v, row) return row.params > 0 and M.percent(v) or "" end },
  { "macs", "MACs", function(v) return v > 0 and M.count(v) or "" end },
}

--- M.stats(rows) -> string: the rows of model:stats() as a table.
function M.stats(rows)
  return M.table(rows, stats_columns)
end

--- M.totals(rows) -> {params=, nonzeros=, density=, macs=, sparse_macs=}
function M.totals(rows)
  local t = { params = 0, nonzeros = 0, macs = 0, sparse_macs = 0 }
  for _, r in ipairs(rows) do
    t.params = t.params + r.params
    t.nonzeros = t.nonzeros + r.nonzeros
    t.macs = t.macs + r.macs
    t.sparse_macs = t.sparse_macs + r.sparse_macs
  end
  t.density = t.params > 0 and t.nonzeros / t.params or 1.0
  return t
end

--- M.summary(model) -> string: header, layer table and totals.
function M.summary(model)
  local rows = model:stats()
  local t = M.totals(rows)
  local input = model.input
  return string.format("model %s: %d layers, input %dx%dx%d\n%s\n" ..
      "total: %s prunable weights, %s kept (%s), %s MACs dense, %s with masks",
      model.name, #model, input[1], input[2], input[3], M.stats(rows),
      M.count(t.params), M.count(t.nonzeros), M.percent(t.density),
      M.count(t.macs), M.count(t.sparse_macs))
end

local function dump(v, indent, seen, out)
  if type(v) ~= "table" then
    out[#out + 1] = type(v) == "string" and string.format("%q", v) or cell(v)
    return
  end
  if seen[v] then
    out[#out + 1] = "<cycle>"
    return
  end
  seen[v] = true
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b)
    if type(a) == type(b) and (type(a) == "number" or type(a) == "string") then return a < b end
    return type(a) < type(b)
  end)
  out[#out + 1] = "{"
  for i, k in ipairs(keys) do
    out[#out + 1] = (i > 1 and ",\n" or "\n") .. indent .. "  "
    if math.type(k) == "integer" then
      out[#out + 1] = "[" .. k .. "] = "
    elseif type(k) == "string" and k:match("^[%a_][%w_]*$") then
      out[#out + 1] = k .. " = "
    else
      out[#out + 1] = "["
      dump(k, indent .. "  ", seen, out)
      out[#out + 1] = "] = "
    end
    dump(v[k], indent .. "  ", seen, out)
  end
  out[#out + 1] = #keys > 0 and "\n" .. indent .. "}" or "}"
  seen[v] = nil
end

--- M.dump(value) -> string: tables with sorted keys, strings quoted.
function M.dump(v)
  local out = {}
  dump(v, "", {}, out)
  return table.concat(out)
end

return M
