-- fig_masks.lua: the mask of one ResNet-18 layer (layer1.0.conv1, 64 filters
-- of 64 x 3 x 3) under four pruning methods:
--   nm_in      2:4 along input channels (NVIDIA ASP style)
--   nm_kernel  4:9 per 3x3 kernel (JointNF's grouping)
--   nffs       NFFS: 4:9 per kernel, then the 25 % filters of least L1 norm
--   jointnf    JointNF over the whole network: 4:9 and 20 % of filters, 3 rounds
-- For each: the whole layer (im2col view, 64 x 576; removed filters marked)
-- and a zoom on 16 filters where the N:M groups are consecutive columns
-- (input channels at one kernel position for `in`, whole kernels otherwise)
-- with a separator between groups.
--
-- All four whole-layer figures share one cell size (CELL points: 3 px at
-- 300 dpi) and one layout (room for removal marks is kept even where
-- nothing is removed), so their matrices have the same size and position
-- and can be stacked as panels of one figure; so do the four zooms.
-- Each figure is sized to its content at print resolution.
--
--   nmlab run examples/fig_masks.lua [OUTDIR]        (default "out")
--
-- Writes OUTDIR/mask_<method>.png and OUTDIR/mask_<method>_zoom.png, and
-- the four of each stacked as one figure: OUTDIR/masks.png and
-- OUTDIR/masks_zoom.png (nm.plot.stack).
-- Needs nm.prune (the pruning bindings).
local F = require "fig_util"

local MODEL, SEED, LAYER = "resnet18", 1, "layer1.0.conv1"
local ZOOM_ROWS = 16
local DPI, CELL, ZOOM_CELL = 300, 0.72, 6   -- points per cell: 3 px and 25 px

F.need("prune", "nm", "nffs", "jointnf")
local dir = F.outdir()

local methods = {
  {key = "nm_in", title = "2:4 along input channels", group = "in", m = 4,
   prune = function(model) nm.prune.nm(model:layer(LAYER), {n = 2, m = 4, group = "in"}) end},
  {key = "nm_kernel", title = "4:9 per 3x3 kernel", group = "kernel", m = 9,
   prune = function(model) nm.prune.nm(model:layer(LAYER), {n = 4, m = 9, group = "kernel"}) end},
  {key = "nffs", title = "NFFS: 4:9 per kernel, then 25% of filters", group = "kernel", m = 9,
   prune = function(model) nm.prune.nffs(model:layer(LAYER), {n = 4, m = 9, ratio = 0.25}) end},
  {key = "jointnf", title = "JointNF: 4:9 and 20% of filters, 3 rounds", group = "kernel", m = 9,
   prune = function(model) nm.prune.jointnf(model, {n = 4, m = 9, filters = 0.2, rounds = 3}) end},
}

-- Whether weight (o, c, kh, kw) of layer l survives: its mask (or, with
-- no mask, its value), its filter and its input channel.
local function kept(l, o, c, kh, kw)
  if l.filters and l.filters:get(o) == 0 then return false end
  if l.in_chans and l.in_chans:get(c) == 0 then return false end
  if l.mask then return l.mask:get(o, c, kh, kw) ~= 0 end
  return l.weight:get(o, c, kh, kw) ~= 0
end

-- The zoom: ZOOM_ROWS filters by 64 columns in which the N:M groups are
-- consecutive: for `in`, input channels 1..64 at kernel position (1, 1);
-- for `kernel`, the 9 weights of input channels 1..8 in (kh, kw) order.
local function zoom(l, method)
  local rows, removed = {}, {}
  local shape = l.weight:shape()
  for o = 1, ZOOM_ROWS do
    local row = {}
    if method.group == "in" then
      for c = 1, math.min(64, shape[2]) do row[#row + 1] = kept(l, o, c, 1, 1) end
    else
      for c = 1, 8 do
        for kh = 1, shape[3] do
          for kw = 1, shape[4] do row[#row + 1] = kept(l, o, c, kh, kw) end
        end
      end
    end
    rows[o] = row
    removed[o] = l.filters ~= nil and l.filters:get(o) == 0
  end
  return rows, removed
end

local panels, zooms = {}, {}
for i, method in ipairs(methods) do
  local model <close> = nm.zoo(MODEL, {seed = SEED})
  method.prune(model)
  local l = model:layer(LAYER)
  local params = {model = MODEL, seed = SEED, layer = LAYER, method = method.key}
  local letter = "(" .. string.char(96 + i) .. ") "
  panels[i] = nm.plot.mask(l, {title = letter .. LAYER .. ": " .. method.title, dpi = DPI,
    cell = CELL, params = params})
  F.save(panels[i], dir, "mask_" .. method.key .. ".png", true)
  local rows, removed = zoom(l, method)
  zooms[i] = nm.plot.heatmap{mask = rows, rows_removed = removed, group_m = method.m,
    title = string.format("%s%s, first %d filters: %s", letter, LAYER, ZOOM_ROWS, method.title),
    xlabel = method.group == "in" and "input channel (kernel position 1,1)"
                                   or "input channels 1-8, 3x3 kernel each",
    ylabel = "filter", dpi = DPI, cell = ZOOM_CELL, params = params}
  F.save(zooms[i], dir, "mask_" .. method.key .. "_zoom.png", true)
  local s = l:stats()
  print(string.format("%-9s density %.3f, filters kept %d/%d", method.key, s.density,
    s.filters_kept, s.filters))
end

-- The four panels as one figure each: same cell size, matrices aligned.
local all = {model = MODEL, seed = SEED, layer = LAYER, methods = "nm_in nm_kernel nffs jointnf"}
F.save(nm.plot.stack(panels, {params = all}), dir, "masks.png")
F.save(nm.plot.stack(zooms, {params = all}), dir, "masks_zoom.png")
for i = 1, #methods do panels[i]:free(); zooms[i]:free() end
