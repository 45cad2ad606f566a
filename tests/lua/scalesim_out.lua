-- `nmlab --scalesim-out DIR MODEL` (issue 16), run as a child process
-- (arg[1] = the nmlab executable): the three CSVs exist with SCALE-Sim's
-- column names, and their per-layer numbers equal (a) counts worked out
-- here by hand from SCALE-Sim's formulas for a two-layer topology and (b)
-- the Lua report of the same system run in this process. Then bad input:
-- a missing folder or model, SRAM sizes of zero, bandwidths that are not
-- positive numbers, a layer whose fold cannot fit, each named.
local T = require "nm.test"
local nmlab = assert(arg[1], "usage: nmlab run scalesim_out.lua NMLAB")

local function sh_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end
local function tmpdir()
  local d = os.tmpname(); os.remove(d)
  assert(os.execute("mkdir -p " .. sh_quote(d)))
  return d
end
-- runs nmlab with args; returns success, combined output
local function run(args)
  local p = assert(io.popen(sh_quote(nmlab) .. " " .. args .. " 2>&1"))
  local out = p:read("a")
  local ok = p:close()
  return ok, out
end

-- A CSV of SCALE-Sim's: header names -> column, then rows of numbers.
local function read_csv(path)
  local f = assert(io.open(path))
  local head = f:read("l")
  local cols, names = {}, {}
  for name in head:gmatch("%s*([^,]+),") do
    names[#names + 1] = name
    cols[name] = #names
  end
  local rows = {}
  for line in f:lines() do
    local v = {}
    for x in line:gmatch("%s*([^,]+),") do v[#v + 1] = tonumber(x) end
    if #v > 0 then rows[#rows + 1] = v end
  end
  f:close()
  return {cols = cols, names = names, rows = rows}
end
local function col(csv, name, layer)
  local c = csv.cols[name]
  assert(c, "no column '" .. name .. "'")
  return csv.rows[layer][c]
end

-- SCALE-Sim's column names (COMPUTE_REPORT of v3, BANDWIDTH_REPORT,
-- DETAILED_ACCESS_REPORT), in its order
local HEAD = {
  COMPUTE_REPORT = {"LayerID", "Total Cycles (incl. prefetch)", "Total Cycles", "Stall Cycles",
                    "Overall Util %", "Mapping Efficiency %", "Compute Util %"},
  BANDWIDTH_REPORT = {"LayerID", "Avg IFMAP SRAM BW", "Avg FILTER SRAM BW", "Avg OFMAP SRAM BW",
                      "Avg IFMAP DRAM BW", "Avg FILTER DRAM BW", "Avg OFMAP DRAM BW"},
  DETAILED_ACCESS_REPORT = {"LayerID"},
}
for _, mem in ipairs({"SRAM", "DRAM"}) do
  for _, op in ipairs({{"IFMAP", "Reads"}, {"Filter", "Reads"}, {"OFMAP", "Writes"}}) do
    local t = HEAD.DETAILED_ACCESS_REPORT
    t[#t + 1] = mem .. " " .. op[1] .. " Start Cycle"
    t[#t + 1] = mem .. " " .. op[1] .. " Stop Cycle"
    t[#t + 1] = mem .. " " .. op[1] .. " " .. op[2]
  end
end

-- Two layers, SCALE-Sim topology format (IFMAP sizes include padding).
local topo = os.tmpname()
do
  local f = assert(io.open(topo, "w"))
  f:write("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n")
  f:write("ConvA,10,10,3,3,8,40,1,\n")
  f:write("FCB,1,1,1,1,1000,64,1,\n")
  f:close()
end

local dir = tmpdir()
local csvs = {}
T.case("the CLI writes SCALE-Sim's three CSVs", function()
  local ok, out = run("--scalesim-out " .. sh_quote(dir) .. " " .. sh_quote(topo))
  T.ok(ok, out)
  for name, head in pairs(HEAD) do
    local c = read_csv(dir .. "/" .. name .. ".csv")
    T.eq(c.names, head, name)
    T.eq(#c.rows, 2, name .. " rows")
    csvs[name] = c
  end
end)

T.case("numbers equal SCALE-Sim's formulas worked by hand", function()
  local cr, ar = csvs.COMPUTE_REPORT, csvs.DETAILED_ACCESS_REPORT
  -- --scalesim-out runs SCALE-Sim's scale.cfg as shipped: CALC bandwidth,
  -- memory system replayed. Expected values are worked by hand and are
  -- SCALE-Sim v3's own (tests/peers/scalesim_layers.py on this topology
  -- with its scale.cfg, 2026-12-05).
  -- ConvA on 32x32 WS: E = 8*8 = 64, K = 3*3*8 = 72, Nf = 40: 3 row folds x
  -- 2 column folds of 32+32+32+64-2 = 158 cycles = 948, minus SCALE-Sim's 1;
  -- CALC reads never stall.
  T.eq(col(cr, "Total Cycles", 1), 947)
  T.eq(col(cr, "Stall Cycles", 1), 0)
  T.eq(col(ar, "SRAM IFMAP Reads", 1), 64 * 72 * 2)     -- E x K per column fold
  T.eq(col(ar, "SRAM Filter Reads", 1), 72 * 40)
  T.eq(col(ar, "SRAM OFMAP Writes", 1), 64 * 40 * 3)    -- E x Nf per row fold
  T.eq(col(ar, "DRAM IFMAP Reads", 1), 10 * 10 * 8)     -- the feature map once (fits)
  T.eq(col(ar, "DRAM Filter Reads", 1), 72 * 40)
  T.eq(col(ar, "DRAM OFMAP Writes", 1), 64 * 40 * 3)    -- every partial sum
  -- DRAM ifmap: 800 distinct addresses in sets of 655 -> 2 sets, fetched
  -- ceil(2 x 655 / 10) = 131 cycles before cycle 0
  T.eq(col(ar, "DRAM IFMAP Start Cycle", 1), -131)
  T.eq(col(ar, "DRAM IFMAP Stop Cycle", 1), -1)
  T.eq(col(cr, "Total Cycles (incl. prefetch)", 1), 1514)
  -- FCB: E = 1, K = 1000, Nf = 64: 32 x 2 folds of 32+32+32+1-2 = 95 ->
  -- 6080 - 1 = 6079 compute, no stall
  T.eq(col(cr, "Stall Cycles", 2), 0)
  T.eq(col(cr, "Total Cycles", 2), 6079)
  T.eq(col(ar, "SRAM IFMAP Reads", 2), 1000 * 2)
  T.eq(col(ar, "SRAM OFMAP Writes", 2), 64 * 32)
  T.eq(col(ar, "DRAM Filter Reads", 2), 64000)          -- each weight demanded once
  T.eq(col(ar, "DRAM Filter Stop Cycle", 2), 3064)
  T.near(col(csvs.BANDWIDTH_REPORT, "Avg FILTER DRAM BW", 2), 64000 / (3064 + 3275 + 1), 1e-6)
  -- Compute Util as SCALE-Sim averages it: mapping efficiency x T /
  -- (2R + 2C + T - 3), T = E: ConvA 0.46875 x 64 / 189
  T.near(col(cr, "Compute Util %", 1), 46.875 * 64 / 189, 1e-5)
end)

T.case("numbers equal the Lua report of the same system", function()
  local sys = nm.sim.system{mac = "pmac", rows = 32, cols = 32, dataflow = "ws", compat = "scalesim",
                            sram_kb = {ifmap = 64, filter = 64, ofmap = 64}, bandwidth = "calc",
                            scalesim_replay = true}
  local r = sys:run(assert(nm.load(topo)))
  T.eq(#r.layers, 2)
  local cr, br, ar = csvs.COMPUTE_REPORT, csvs.BANDWIDTH_REPORT, csvs.DETAILED_ACCESS_REPORT
  for i, l in ipairs(r.layers) do
    T.eq(col(cr, "LayerID", i), i - 1)
    T.eq(col(cr, "Total Cycles", i), l.cycles)
    T.eq(col(cr, "Stall Cycles", i), l.stall_cycles)
    T.near(col(cr, "Mapping Efficiency %", i), l.mapping_eff * 100, 1e-5)
    T.eq(col(ar, "SRAM IFMAP Reads", i), l.sram_reads.ifmap)
    T.eq(col(ar, "SRAM Filter Reads", i), l.sram_reads.filter)
    T.eq(col(ar, "SRAM OFMAP Writes", i), l.sram_writes.ofmap)
    T.eq(col(ar, "DRAM IFMAP Reads", i), l.dram_reads.ifmap)
    T.eq(col(ar, "DRAM Filter Reads", i), l.dram_reads.filter)
    T.eq(col(ar, "DRAM OFMAP Writes", i), l.dram_writes.ofmap)
    T.ok(l.dram_exact.ifmap and l.dram_exact.filter)
    T.near(col(br, "Avg IFMAP SRAM BW", i), l.sram_reads.ifmap / l.cycles, 1e-6)
    T.near(col(br, "Avg OFMAP SRAM BW", i), l.sram_writes.ofmap / l.cycles, 1e-6)
    -- DRAM bandwidths over each DRAM trace's span, as SCALE-Sim's
    for _, k in ipairs({{"IFMAP", "Reads", l.dram_reads.ifmap}, {"Filter", "Reads", l.dram_reads.filter},
                        {"OFMAP", "Writes", l.dram_writes.ofmap}}) do
      local span = col(ar, "DRAM " .. k[1] .. " Stop Cycle", i) - col(ar, "DRAM " .. k[1] .. " Start Cycle", i) + 1
      T.near(col(br, "Avg " .. k[1]:upper() .. " DRAM BW", i), k[3] / span, 1e-6)
    end
  end
end)

T.case("CLI bad input: missing folder, missing model, no MODEL", function()
  local ok, out = run("--scalesim-out " .. sh_quote(dir .. "/no/such") .. " " .. sh_quote(topo))
  T.ok(not ok)
  T.ok(out:find("--scalesim-out: " .. dir .. "/no/such/COMPUTE_REPORT.csv", 1, true), out)
  ok, out = run("--scalesim-out " .. sh_quote(dir) .. " " .. sh_quote(dir .. "/none.csv"))
  T.ok(not ok)
  T.ok(out:find("--scalesim-out: " .. dir .. "/none.csv", 1, true), out)
  ok, out = run("--scalesim-out " .. sh_quote(dir))
  T.ok(not ok)
  T.ok(out:find("needs a MODEL", 1, true), out)
end)

T.case("bad memory options: zero SRAMs, bandwidths not positive, named", function()
  local function sys(sram, bw)
    return function() nm.sim.system{mac = "pmac", rows = 4, sram_kb = sram, bandwidth = bw} end
  end
  for _, k in ipairs({"ifmap", "filter", "ofmap"}) do
    for _, bad in ipairs({0, -1, 0 / 0, "x"}) do
      local s = {ifmap = 1, filter = 1, ofmap = 1}
      s[k] = bad
      T.raises(sys(s), "sram_kb." .. k)
    end
  end
  local ok3 = {ifmap = 1, filter = 1, ofmap = 1}
  for _, bad in ipairs({0, -2, 0 / 0, 1 / 0, -1 / 0, "fast", true}) do
    T.raises(sys(ok3, bad), "bandwidth")
  end
  T.raises(sys(0, 4), "sram_kb")
end)

T.case("a layer whose fold cannot fit names the layer and the SRAM", function()
  local m = nm.model("fit", {8, 6, 6})
  m:add("conv", "wide", {out = 16, k = 3})
  m:init_weights(1)
  -- WS: one 4x4 fold of weights = 16 bytes > the 8-byte half filter buffer
  local ws = nm.sim.system{mac = "pmac", rows = 4, cols = 4,
                           sram_kb = {ifmap = 1, filter = 16 / 1024, ofmap = 1}}
  T.raises(function() ws:run(m) end, "layer 'wide': one fold's weights")
  T.raises(function() ws:run(m) end, "sram_kb.filter")
  -- IS: the 288-byte feature map over 18 x 4 folds = 4 bytes per fold
  -- (memory.c's average) > the 1-byte half ifmap buffer
  local is = nm.sim.system{mac = "pmac", rows = 4, cols = 4, dataflow = "is",
                           sram_kb = {ifmap = 2 / 1024, filter = 1, ofmap = 1}}
  T.raises(function() is:run(m) end, "layer 'wide': one fold's inputs")
  T.raises(function() is:run(m) end, "sram_kb.ifmap")
  -- every dataflow: max(R, C) = 8 output words in a 4-byte half buffer
  local os_ = nm.sim.system{mac = "pmac", rows = 8, cols = 4, dataflow = "os",
                            sram_kb = {ifmap = 1, filter = 1, ofmap = 8 / 1024}}
  T.raises(function() os_:run(m) end, "layer 'wide': one fold's outputs")
  T.raises(function() os_:run(m) end, "sram_kb.ofmap")
end)

os.execute("rm -rf " .. sh_quote(dir))
os.remove(topo)
T.done()
