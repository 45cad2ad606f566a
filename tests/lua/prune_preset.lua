-- preset = 'paper' on nm.prune.nm and nm.prune.jointnf: MobileNet-v2 gets
-- N:M on its pointwise layers only, grouped along input channels (kept
-- weights counted here from the layer shapes), first conv and classifier
-- included elsewhere, three rounds; an unknown architecture and clashing
-- options are errors naming them, and the model is left as it was.
local T = require "nm.test"

-- kept weights of a [rows, C, 1, 1] / [rows, C] weight under n:m groups of
-- m consecutive input channels (a trailing group of L keeps min(n, L))
local function kept_in(rows, C, n, m)
  return rows * ((C // m) * n + math.min(n, C % m))
end

T.case("mobilenet_v2: pointwise layers only, along input channels", function()
  local m = nm.zoo("mobilenet_v2", {seed = 1})
  nm.prune.nm(m, {preset = "paper"})
  local pw, other = 0, 0
  for _, r in ipairs(m:stats()) do
    local l = m:layer(r.name)
    if r.kind == "conv" or r.kind == "linear" or r.kind == "dwconv" then
      local sh = l.weight:shape()
      local is_pw = r.kind == "linear" or (r.kind == "conv" and sh[3] == 1 and sh[4] == 1)
      if is_pw then
        pw = pw + 1
        T.eq(r.nm, "3:9", r.name)
        T.eq(r.nonzeros, kept_in(sh[1], sh[2], 3, 9), r.name)
      else
        other = other + 1
        T.eq(l.mask, nil, r.name)
        T.eq(r.nm, "", r.name)
      end
    end
  end
  T.ok(pw > 30 and other > 15, pw .. " pointwise, " .. other .. " others")
  -- jointnf: three rounds by default, 4:9
  local j = nm.zoo("mobilenet_v2", {seed = 1})
  local rounds = 0
  nm.prune.jointnf(j, {preset = "paper", on_round = function() rounds = rounds + 1 end})
  T.eq(rounds, 3)
  T.eq(j:layer(j:stats()[#j:stats()].name):stats().nm, "4:9")
end)

T.case("unknown architectures and clashing options are errors", function()
  local m = nm.model("tinynet", {3, 8, 8})
  m:add("conv", "c", {out = 4, k = 3, pad = 1})
  m:add("gap", "g"); m:add("flatten", "f"); m:add("linear", "fc", {out = 2})
  m:init_weights(1)
  T.raises(function() nm.prune.nm(m, {preset = "paper"}) end, "'tinynet'")
  T.raises(function() nm.prune.jointnf(m, {preset = "paper"}) end, "'tinynet'")
  T.raises(function() nm.prune.nm(m, {preset = "best"}) end, "preset")
  T.raises(function() nm.prune.nm(m, {preset = "paper", include_first = false}) end, "include_first")
  T.raises(function() nm.prune.nm(m:layer("c"), {preset = "paper"}) end, "model target")
  for _, l in ipairs(m:layers()) do T.eq(l.mask, nil, l.name) end
end)

T.done()
