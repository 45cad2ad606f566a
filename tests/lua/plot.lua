-- nm.plot: every chart kind writes a PNG whose header is read back here
-- (signature, IHDR size, text chunks); saves are byte-for-byte repeatable;
-- bad input raises naming the field; an unwritable path returns nil and a
-- message and leaves nothing behind. The simulator helpers are checked
-- against the same chart built by hand from the report tables.
local T = require "nm.test"

local SIG = "\137PNG\r\n\26\n"
local dir = "plot_test_out"
os.execute("rm -rf " .. dir .. " && mkdir " .. dir)

local function slurp(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

-- Width, height and text chunks {keyword = text} of PNG bytes, parsed here
-- from the chunk layout (length, type, data, CRC).
local function png_info(s)
  T.eq(s:sub(1, 8), SIG, "PNG signature")
  local pos, w, h = 9, nil, nil
  local text = {}
  while pos <= #s do
    local len, typ = string.unpack(">I4c4", s, pos)
    local data = s:sub(pos + 8, pos + 7 + len)
    if typ == "IHDR" then
      w, h = string.unpack(">I4I4", data)
    elseif typ == "tEXt" then
      local k, v = data:match("^([^%z]*)%z(.*)$")
      text[k] = v
    end
    pos = pos + 12 + len
    if typ == "IEND" then break end
  end
  return w, h, text
end

-- Saves p to dir/name, checks the size and that a second save gives the
-- same bytes; returns the bytes.
local function save_check(p, name, w, h)
  local path = dir .. "/" .. name
  T.eq(p:save(path), true)
  local a = slurp(path)
  T.ok(a, path .. " exists")
  local pw, ph, text = png_info(a)
  if w then T.eq({pw, ph}, {w, h}, name .. " size") end
  T.eq(p:save(path), true)
  T.ok(slurp(path) == a, name .. ": two saves give identical bytes")
  return a, text, pw, ph
end

local groups = {"conv1", "layer1.0.conv1", "fc"}
local function bars_opts(extra)
  local o = {groups = groups, series = {
    {name = "dense", values = {1, 1, 1}},
    {name = "2:4", values = {0.5, 0.5, 0.5}}},
    title = "Density", ylabel = "density"}
  for k, v in pairs(extra or {}) do o[k] = v end
  return o
end

T.case("bars: size, metadata, repeatable", function()
  local p = nm.plot.bars(bars_opts{width = 640, height = 400,
    params = {model = "resnet18", n = 2, m = 4}})
  T.eq(tostring(p), "nm.plot bars")
  local _, text = save_check(p, "bars.png", 640, 400)
  T.eq(text.Parameters, "m=4 model=resnet18 n=2")  -- keys sorted
  T.eq(text.Title, "Density")
  T.ok(text.Software:find("nmlab", 1, true), "Software chunk")
  -- default size: 8 x 5 inches at the dpi
  save_check(nm.plot.bars(bars_opts()), "bars_default.png", 800, 500)
  save_check(nm.plot.bars(bars_opts{dpi = 150}), "bars_150.png", 1200, 750)
  -- a second object from the same input: the same bytes
  local a = slurp(dir .. "/bars_default.png")
  nm.plot.bars(bars_opts()):save(dir .. "/bars_again.png")
  T.ok(slurp(dir .. "/bars_again.png") == a, "same input, same bytes")
  -- a string params is stored as given; other options change the picture
  local _, t2 = save_check(nm.plot.bars(bars_opts{params = "prune=nm n=2 m=4"}), "bars_p.png")
  T.eq(t2.Parameters, "prune=nm n=2 m=4")
  local dark = save_check(nm.plot.bars(bars_opts{theme = "dark"}), "bars_dark.png", 800, 500)
  T.ok(dark ~= a, "dark theme differs")
  local nolab = save_check(nm.plot.bars(bars_opts{value_labels = false}), "bars_nolab.png")
  T.ok(nolab ~= a, "value_labels=false differs")
  local lab = bars_opts()
  lab.series[2].labels = {"50%", "50%", "50%"}
  T.ok(save_check(nm.plot.bars(lab), "bars_lab.png") ~= a, "labels differ")
end)

T.case("stacked, lines, heatmap, table", function()
  save_check(nm.plot.stacked{groups = {"pMAC", "nm-MAC"}, series = {
      {name = "MAC", values = {3, 1}}, {name = "SRAM", values = {2, 2}}},
    labels = {"5 uJ", "3 uJ"}, width = 500, height = 300}, "stacked.png", 500, 300)
  save_check(nm.plot.lines{x = {0, 0.5, 0.75, 0.9}, series = {
      {name = "accuracy", values = {0.9, 0.89, 0.87, 0.6}},
      {name = "baseline", values = {0.9, 0.9, 0.9, 0.9}}},
    xlabel = "sparsity", width = 600, height = 400}, "lines.png", 600, 400)
  -- lines without x: 1..n
  local a = save_check(nm.plot.lines{series = {{name = "y", values = {3, 1, 2}}}}, "lines1.png", 800, 500)
  local b = save_check(nm.plot.lines{x = {1, 2, 3}, series = {{name = "y", values = {3, 1, 2}}}}, "lines2.png")
  T.ok(a == b, "x defaults to 1..n")
  -- heatmap from a table and from a tensor of the same numbers: same bytes
  local t = nm.tensor({2, 3})
  local rows = {{1, 2, 3}, {4, 5, 6}}
  for i = 1, 2 do for j = 1, 3 do t:set(i, j, rows[i][j]) end end
  local h1 = save_check(nm.plot.heatmap{values = rows, width = 400, height = 300}, "heat1.png", 400, 300)
  local h2 = save_check(nm.plot.heatmap{values = t, width = 400, height = 300}, "heat2.png", 400, 300)
  T.ok(h1 == h2, "table and tensor give the same heatmap")
  local mk = nm.tensor({2, 3}, 1, "u8")
  mk:set(1, 2, 0)
  local h3 = save_check(nm.plot.heatmap{values = t, mask = mk, group_m = 3,
    rows_removed = {false, true}, ramp = "cividis", vmin = 0, vmax = 10,
    value_label = "|w|", width = 400, height = 300}, "heat3.png", 400, 300)
  T.ok(h3 ~= h1, "mask changes the picture")
  -- default size: at most 8 x 5 inches, shrunk to the matrix
  local _, _, w, h = save_check(nm.plot.heatmap{mask = {{true, false}, {0, 1}}}, "heat_mask.png")
  T.ok(w <= 800 and h <= 500 and w > 64 and h > 64, "heatmap fits its content: " .. w .. "x" .. h)
  -- a 4-D tensor is shown as its im2col view (shape[1] x the rest)
  local hp = nm.plot.heatmap{values = nm.tensor({4, 2, 3, 3}, 0.5)}
  local info = hp:info()
  T.eq({info.data.w, info.data.h}, {18 * info.cell_w, 4 * info.cell_h}, "4 x 18 cells")
  T.eq(info.cell_w, info.cell_h, "square cells")
  _, _, w, h = save_check(hp, "heat4d.png")
  T.eq({w, h}, {info.width, info.height}, "info gives the figure's size")
  -- `cell` (points) fixes the scale: 6 pt at 120 dpi = 10 px per cell
  info = nm.plot.heatmap{values = nm.tensor({4, 2, 3, 3}, 0.5), cell = 6, dpi = 120}:info()
  T.eq({info.cell_w, info.data.w, info.data.h}, {10, 180, 40}, "cell = 6 pt at 120 dpi")
  T.raises(function() nm.plot.heatmap{values = rows, cell = -1} end, "cell")
  -- tables are sized to fit unless told
  local _, _, w, h = save_check(nm.plot.table{header = {"layer", "density"},
    rows = {{"conv1", 0.5}, {"fc", 1}}}, "table.png")
  T.ok(w > 64 and h > 64 and w < 800 and h < 500, "table fits its content: " .. w .. "x" .. h)
  save_check(nm.plot.table{header = {"a", "b"}, rows = {{1, 2}}, width = 300, height = 200},
    "table_fixed.png", 300, 200)
end)

T.case("bad input raises naming the field", function()
  T.raises(function() nm.plot.bars{groups = {"a", "b"}, series = {{name = "x", values = {1}}}} end,
    "series[1].values has 1 values but groups has 2")
  T.raises(function() nm.plot.bars{groups = {"a", "b"}, series = {
    {name = "x", values = {1, 2}}, {name = "y", values = {1, 2, 3}}}} end,
    "series[2].values has 3 values but groups has 2")
  T.raises(function() nm.plot.bars{groups = {"a"}, series = {{name = "x", values = {0 / 0}}}} end,
    "series[1].values[1] is NaN")
  T.raises(function() nm.plot.bars{groups = {"a"}, series = {{name = "x", values = {math.huge}}}} end,
    "series[1].values[1] is infinite")
  T.raises(function() nm.plot.bars{groups = {"a"}, series = {}} end, "series is empty")
  T.raises(function() nm.plot.bars{groups = {}, series = {{values = {}}}} end, "groups is empty")
  T.raises(function() nm.plot.bars{groups = {"a"}, series = {{name = "x", values = {}}}} end,
    "series[1].values is empty")
  T.raises(function() nm.plot.bars{groups = {"a"}, series = {{values = {"x"}}}} end,
    "series[1].values[1] must be a number, not string")
  T.raises(function() nm.plot.bars{groups = {"a"}, series = {{values = {1}}, {values = {2}}}} end,
    "series[1].name must be a string")
  local nine = {}
  for i = 1, 9 do nine[i] = {name = "s" .. i, values = {1}} end
  T.raises(function() nm.plot.bars{groups = {"a"}, series = nine} end, "at most 8")
  T.raises(function() nm.plot.bars{groups = {"a"}, series = {{values = {1}, labels = {"x", "y"}}}} end,
    "series[1].labels must be a table of 1 strings")
  T.raises(function() nm.plot.stacked{groups = {"a"}, series = {{values = {-1}}}} end,
    "series[1].values[1] is negative")
  T.raises(function() nm.plot.stacked{groups = {"a", "b"}, series = {{values = {1, 2}}},
    labels = {"x"}} end, "labels must be a table of 2 strings")
  T.raises(function() nm.plot.bars(bars_opts{ymax = 0.5}) end, "ymax")
  T.raises(function() nm.plot.bars(bars_opts{theme = "blue"}) end, "theme must be 'light' or 'dark'")
  T.raises(function() nm.plot.bars(bars_opts{width = -3}) end, "width must be an integer")
  T.raises(function() nm.plot.bars(bars_opts{width = 10}) end, "width")
  T.raises(function() nm.plot.bars(bars_opts{title = {}}) end, "title must be a string, not table")
  T.raises(function() nm.plot.lines{x = {1, 2, 3}, series = {{name = "a", values = {1, 2}}}} end,
    "series[1].values has 2 values but x has 3")
  T.raises(function() nm.plot.lines{x = {1, 0 / 0}, series = {{values = {1, 2}}}} end, "x[2] is NaN")
  T.raises(function() nm.plot.heatmap{values = {{1, 2}, {3}}} end, "values[2] has 1 entries but values[1] has 2")
  T.raises(function() nm.plot.heatmap{values = {{1, 0 / 0}}} end, "values[1][2] is NaN")
  T.raises(function() nm.plot.heatmap{values = {{1, 2}}, mask = {{1, 1, 1}}} end,
    "mask is 1 x 3 but values is 1 x 2")
  T.raises(function() nm.plot.heatmap{values = {{1, 2}}, rows_removed = {true, false}} end,
    "rows_removed must be a table of 1 booleans")
  T.raises(function() nm.plot.heatmap{title = "x"} end, "values or mask is required")
  T.raises(function() nm.plot.heatmap{values = {{1, 2}}, vmin = 2, vmax = 1} end, "must be below vmax")
  T.raises(function() nm.plot.table{header = {"a", "b"}, rows = {{1, 2}, {3}}} end,
    "rows[2] has 1 cells but header has 2")
  T.raises(function() nm.plot.table{header = {"a"}, rows = {{1}}, width = 64, height = 64} end, "needs")
end)

T.case("unwritable path: nil, message, nothing left behind", function()
  local p = nm.plot.bars(bars_opts())
  local ok, err = p:save(dir .. "/no/such/folder/x.png")
  T.eq(ok, nil)
  T.ok(err:find("no/such/folder/x.png", 1, true), "message names the path: " .. err)
  -- a folder in the way of the target
  os.execute("mkdir " .. dir .. "/busy && mkdir " .. dir .. "/busy/x.png")
  ok, err = p:save(dir .. "/busy/x.png")
  T.eq(ok, nil)
  T.ok(err:find("x.png", 1, true), err)
  local ls = io.popen("ls -A " .. dir .. "/busy")
  local names = ls:read("a")
  ls:close()
  T.eq(names, "x.png\n", "no temporary file left")
end)

T.case("plot objects: free, close, tostring", function()
  local p = nm.plot.bars(bars_opts())
  p:free()
  p:free()
  T.eq(tostring(p), "nm.plot bars (freed)")
  T.raises(function() p:save(dir .. "/freed.png") end, "plot has been freed")
  T.eq(io.open(dir .. "/freed.png"), nil)
  local q
  do
    local c <close> = nm.plot.lines{series = {{values = {1, 2}}}}
    q = c
  end
  T.raises(function() q:save(dir .. "/closed.png") end, "plot has been freed")
  T.raises(function() nm.plot.bars(5) end, "table expected")
end)

T.case("layer_density and mask on fmnist_cnn", function()
  local m = nm.zoo("fmnist_cnn")
  local pruned = m:clone()
  pruned:layer("conv2").weight:fill(0)   -- density 0 for conv2
  local only = save_check(nm.plot.layer_density(m), "density1.png", 800, 500)
  local both = save_check(nm.plot.layer_density(pruned, m, {title = "fmnist", width = 700, height = 400}),
    "density2.png", 700, 400)
  local same = save_check(nm.plot.layer_density(m, m:clone(), {title = "fmnist", width = 700, height = 400}),
    "density3.png", 700, 400)
  T.ok(both ~= same, "a pruned layer changes the density plot")
  T.ok(only ~= same)
  local other = nm.model("other", {1, 28, 28})
  other:add("conv", "c", {out = 4})
  other:init_weights(1)
  T.raises(function() nm.plot.layer_density(other, m) end, "nm.plot.layer_density")

  local conv2 = m:layer("conv2")
  local kept, _, kw, kh = save_check(nm.plot.mask(conv2), "mask_kept.png")
  T.ok(kw <= 800 and kh <= 500, "mask fits its content: " .. kw .. "x" .. kh)
  local mag = save_check(nm.plot.mask(conv2, {view = "magnitude"}), "mask_mag.png")
  T.ok(kept ~= mag, "magnitude view differs from kept view")
  save_check(nm.plot.mask(m:layer("fc1"), {width = 900, height = 300, dpi = 120}), "mask_fc1.png", 900, 300)
  T.raises(function() nm.plot.mask(m:layer("bn1")) end, "has no prunable weight")
  T.raises(function() nm.plot.mask(conv2, {view = "x"}) end, "view must be 'kept' or 'magnitude'")
  T.raises(function() nm.plot.mask(m) end, "nm.layer expected")
  m:free()
  T.raises(function() nm.plot.mask(conv2) end, "model has been freed")
end)

-- Simulator reports as nm.sim's sys:run returns them (plain tables).
local function energy(k)
  local e = {mult = 10 * k, add = 2 * k, select = 0, reg = 1 * k, sram_w = 3 * k,
    sram_d = 4 * k, sram_o = 1 * k, acc = 2 * k, sfu = 0.5 * k, dram = 20 * k, leak = 0.5 * k}
  local total = 0
  for _, v in pairs(e) do total = total + v end
  e.total = total
  return e
end
local function report(mac, scale)
  local r = {mac = mac, system = "mac=" .. mac .. " array=32x32 dataflow=ws", model = "tiny", layers = {}}
  local names = {"conv1", "conv2", "fc"}
  for i, n in ipairs(names) do
    r.layers[i] = {name = n, cycles = 100 * i, util = 0.3 * i, mult_util = 0.25 * i,
      energy = energy(scale * i * 1e3)}
  end
  r.total = {name = "total", cycles = 600, util = 0.6, mult_util = 0.5, energy = energy(scale * 6e3)}
  return r
end

-- The stacked bars nm.plot.energy should draw, computed here from the
-- energy fields: parts folded, all-zero parts dropped, scaled to nJ
-- (the largest stack is between 1e3 and 1e6 pJ in these reports).
local PARTS = {
  {"multipliers", {"mult"}}, {"adders", {"add"}}, {"select", {"select"}},
  {"registers", {"reg"}}, {"SRAM", {"sram_w", "sram_d", "sram_o"}},
  {"accumulators + SFU", {"acc", "sfu"}}, {"DRAM", {"dram"}}, {"leakage", {"leak"}},
}
local function by_hand(groups, energies, scale, opts)
  local series = {}
  for _, part in ipairs(PARTS) do
    local vals, any = {}, false
    for g, e in ipairs(energies) do
      local s = 0
      for _, f in ipairs(part[2]) do s = s + e[f] end
      vals[g] = s / scale
      any = any or s > 0
    end
    if any then series[#series + 1] = {name = part[1], values = vals} end
  end
  opts.groups, opts.series = groups, series
  return nm.plot.stacked(opts)
end

T.case("energy and utilization from report tables", function()
  local a, b = report("pMAC", 1), report("nm-2:4", 0.4)
  -- one bar per report (its total), named by mac; the switches go into
  -- the PNG's Parameters chunk
  local got, text = save_check(nm.plot.energy({a, b}), "energy_sys.png", 800, 500)
  T.eq(text.Parameters, "pMAC: mac=pMAC array=32x32 dataflow=ws; "
    .. "nm-2:4: mac=nm-2:4 array=32x32 dataflow=ws")
  local want = save_check(by_hand({"pMAC", "nm-2:4"}, {a.total.energy, b.total.energy}, 1e3,
    {title = "Energy per system", ylabel = "energy (nJ)", xlabel = "system", params = text.Parameters}),
    "energy_sys_hand.png")
  T.ok(got == want, "energy of reports = stacked bars of their totals")
  -- a caller's label wins over mac; params given are kept
  a.label = "baseline"
  local _, t2 = save_check(nm.plot.energy({a, b}, {params = "fig=3"}), "energy_label.png")
  T.eq(t2.Parameters, "fig=3")
  a.label = nil
  -- one report: per layer
  local es = {}
  for i, l in ipairs(a.layers) do es[i] = l.energy end
  got = save_check(nm.plot.energy(a, {width = 600, height = 400}), "energy_layers.png", 600, 400)
  want = save_check(by_hand({"conv1", "conv2", "fc"}, es, 1e3, {title = "Energy per layer: pMAC",
    ylabel = "energy (nJ)", xlabel = "layer", width = 600, height = 400,
    params = "pMAC: " .. a.system}), "energy_layers_hand.png")
  T.ok(got == want, "energy of one report = stacked bars per layer")
  -- a report without label, mac or system is called "report i"
  b.system, b.mac = nil, nil
  got = save_check(nm.plot.energy({a, b}), "energy_noname.png")
  T.ok(got ~= slurp(dir .. "/energy_sys.png"), "unnamed report gets another label")

  got = save_check(nm.plot.utilization(a), "util.png", 800, 500)
  want = save_check(nm.plot.bars{groups = {"conv1", "conv2", "fc"}, ymax = 100,
    series = {{name = "PE utilization", values = {30, 60, 90}, labels = {"30%", "60%", "90%"}},
              {name = "multiplier utilization", values = {25, 50, 75}, labels = {"25%", "50%", "75%"}}},
    title = "Utilization per layer: pMAC", ylabel = "utilization (%)", xlabel = "layer",
    params = "pMAC: " .. a.system},
    "util_hand.png")
  T.ok(got == want, "utilization = bars of util and mult_util in percent")

  local bad = report("x", 1)
  bad.layers[2].energy.dram = nil
  T.raises(function() nm.plot.energy(bad) end, "report.layers[2].energy.dram must be a number")
  bad = report("x", 1)
  bad.total.energy.leak = 0 / 0
  T.raises(function() nm.plot.energy({a, bad}) end, "reports[2].total.energy.leak is NaN")
  T.raises(function() nm.plot.energy({}) end, "no reports given")
  T.raises(function() nm.plot.energy({a, 3}) end, "reports[2] must be a report table")
  -- below 10 % a label keeps one decimal
  local small = report("pMAC", 1)
  small.layers = {small.layers[1]}
  small.layers[1].util, small.layers[1].mult_util = 0.03125, 0.5
  got = save_check(nm.plot.utilization(small), "util_small.png")
  want = save_check(nm.plot.bars{groups = {"conv1"}, ymax = 100,
    series = {{name = "PE utilization", values = {3.125}, labels = {"3.1%"}},
              {name = "multiplier utilization", values = {50}, labels = {"50%"}}},
    title = "Utilization per layer: pMAC", ylabel = "utilization (%)", xlabel = "layer",
    params = "pMAC: " .. small.system}, "util_small_hand.png")
  T.ok(got == want, "labels below 10% keep a decimal")
  bad = report("x", 1)
  bad.layers = {}
  T.raises(function() nm.plot.utilization(bad) end, "report.layers is empty")
  bad = report("x", 1)
  bad.layers[3].util = 1.5
  T.raises(function() nm.plot.utilization(bad) end, "report.layers[3].util is 1.5")
  bad.layers[3].util = 0 / 0
  T.raises(function() nm.plot.utilization(bad) end, "report.layers[3].util is NaN")
end)

T.case("every bar label is drawn or said to be left out", function()
  local g, v = {}, {}
  for i = 1, 54 do g[i] = string.format("layer%d.%d.conv%d", i // 12 + 1, i // 3 % 4, i % 3 + 1); v[i] = i end
  local info = nm.plot.bars{groups = g, series = {{values = v}}, width = 1100, height = 550}:info()
  T.eq({info.x_labels, info.x_labels_drawn, info.x_label_angle}, {54, 54, 90}, "54 upright labels")
  T.ok(info.x_label_pt >= 6, "labels at " .. info.x_label_pt .. " pt")
  -- tables fitted to their text are drawn at 300 dpi
  info = nm.plot.table{header = {"a", "b"}, rows = {{1, 2}}}:info()
  T.eq(info.dpi, 300, "table dpi")
end)

T.case("size presets for print", function()
  local i = nm.plot.bars(bars_opts{size = "column"}):info()
  T.eq({i.width, i.height, i.dpi}, {1050, 750, 300}, "column: 3.5 x 2.5 in at 300 dpi")
  i = nm.plot.bars(bars_opts{size = "page"}):info()
  T.eq({i.width, i.height, i.dpi}, {2100, 1050, 300}, "page: 7 x 3.5 in at 300 dpi")
  i = nm.plot.bars(bars_opts{size = "column", dpi = 200, height = 600}):info()
  T.eq({i.width, i.height, i.dpi}, {700, 600, 200}, "dpi and height given win")
  T.raises(function() nm.plot.bars(bars_opts{size = "poster"}) end, "size must be 'column' or 'page'")
end)

T.case("stack: panels of one figure", function()
  local v = nm.tensor({4, 6}, 1)
  local a = nm.plot.heatmap{values = v, cell = 6, title = "(a)"}
  local b = nm.plot.heatmap{values = v, cell = 6, title = "(b) a longer title than (a)"}
  local ia, ib = a:info(), b:info()
  local st = nm.plot.stack{a, b}
  local is = st:info()
  T.eq(is.width, math.max(ia.width, ib.width), "widest panel")
  T.eq(is.height, ia.height + ib.height + 6, "panels and a 4 pt gap (6 px at 100 dpi)")
  T.eq(ia.data.x, ib.data.x, "matrices aligned")
  local _, _, w, h = save_check(st, "stack.png")
  T.eq({w, h}, {is.width, is.height})
  T.raises(function() nm.plot.stack{a, 3} end, "panel 2 must be a plot")
  T.raises(function() nm.plot.stack{} end, "0 panels")
  b:free()
  T.raises(function() nm.plot.stack{a, b} end, "panel 2 has been freed")
end)

os.execute("rm -rf " .. dir)

T.done()
