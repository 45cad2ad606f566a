-- Runs examples/table1_fmnist.lua --quick into a temporary folder and
-- checks its CSV: 7 rows in order, and bounds that follow from the
-- methods themselves (not from the script's own output): NMReLU n:9 keeps
-- at most n of every 9 positions, pruning never adds weights. Skipped
-- (exit 77) when this build has no nm.prune.
if not (nm.prune and nm.prune.jointnf) then
  print("skip: nm.prune is not in this build")
  os.exit(77)
end
local T = require "nm.test"
local root = os.getenv("NMLAB_SOURCE_ROOT") or nm.source_root
local out = os.tmpname()
os.remove(out)
assert(os.execute("mkdir -p '" .. out .. "'"))

arg = {[0] = root .. "/examples/table1_fmnist.lua", out, "--quick"}
dofile(arg[0])

local f = assert(io.open(out .. "/table1_fmnist.csv"))
local header = f:read("l")
local cols = {}
for c in header:gmatch("[^,]+") do cols[#cols + 1] = c end
local rows = {}
-- RFC 4180 cells: quoted ones may hold commas and doubled quotes
local function split(line)
  local cells, pos = {}, 1
  while pos <= #line + 1 do
    local cell
    if line:sub(pos, pos) == '"' then
      local q, buf = pos + 1, {}
      while true do
        local e = assert(line:find('"', q, true), "unterminated quote")
        buf[#buf + 1] = line:sub(q, e - 1)
        if line:sub(e + 1, e + 1) == '"' then
          buf[#buf + 1] = '"'
          q = e + 2
        else
          pos = e + 2
          break
        end
      end
      cell = table.concat(buf)
    else
      local e = line:find(",", pos, true) or #line + 1
      cell = line:sub(pos, e - 1)
      cell = tonumber(cell) or cell
      pos = e + 1
    end
    cells[#cells + 1] = cell
  end
  return cells
end
for line in f:lines() do
  local cells, r = split(line), {}
  T.eq(#cells, #cols, "cells in a row")
  for k, c in ipairs(cols) do r[c] = cells[k] end
  rows[#rows + 1] = r
end
f:close()

T.case("seven rows in the table's order", function()
  T.eq(#rows, 7)
  local want = {"Dense", "N:M 4:9 one-shot", "N:M 3:9 one-shot", "SR-STE 3:9",
                "Slimming 60% filters", "JointNF-4-4-0.2", "JointNF-6-4-0.1"}
  for i, name in ipairs(want) do T.eq(rows[i] and rows[i].method, name) end
end)

T.case("bounds that follow from the methods", function()
  for _, r in ipairs(rows) do
    T.ok(r.acc >= 0 and r.acc <= 1, r.method)
    T.ok(r.weight_density <= 1 and r.weight_density > 0, r.method)
  end
  T.near(rows[1].weight_density, 1, 1e-9)
  T.near(rows[1].delta, 0, 1e-9)
  for i = 2, 7 do T.ok(rows[i].weight_density < 1, rows[i].method) end
  -- 784 positions = 87 groups of 9 + 1: at most 87*n + 1 kept per channel
  T.ok(rows[6].act_density <= (87 * 4 + 1) / 784 + 1e-9, "NMReLU 4:9")
  T.ok(rows[7].act_density <= (87 * 6 + 1) / 784 + 1e-9, "NMReLU 6:9")
  T.ok(rows[6].eff_macs_rel < rows[7].eff_macs_rel, "4-4 does fewer MACs than 6-4")
  T.ok(rows[5].storage_rel < 1, "slimming stores less")
end)

os.execute("rm -rf '" .. out .. "'")
T.done()
