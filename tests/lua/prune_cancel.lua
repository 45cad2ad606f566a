-- Ctrl-C (here nm._cancel_after) while a JointNF finetune callback runs:
-- the engine stops and the binding raises; the script ends cancelled.
-- Run by tests/lua/meson.build, which expects exit status 130 and the
-- binding's message naming the callback.
local m = nm.model("small", {3, 8, 8})
m:add("conv", "conv1", {out = 8, k = 3, pad = 1})
m:add("conv", "conv2", {out = 8, k = 3, pad = 1})
m:add("conv", "conv3", {out = 8, k = 3, pad = 1})
m:add("gap", "gap"); m:add("flatten", "flat"); m:add("linear", "fc", {out = 4})
m:init_weights(1)
nm.prune.jointnf(m, {n = 4, m = 9, filters = 0.2, finetune = function()
  nm._cancel_after(1)
  local x = 0
  for i = 1, 1e9 do x = x + i end
end})
print("not reached")
