-- Models shared by the Lua tests (found through the script's folder).
local M = {}

-- A small CNN: conv1 (first, skipped by default), conv2, conv3 with BN,
-- then gap, flatten, fc (the classifier, skipped by default).
function M.small_cnn(seed)
  local m = nm.model("small", {3, 12, 12})
  m:add("conv", "conv1", {out = 8, k = 3, pad = 1})
  m:add("bn", "bn1"); m:add("relu", "relu1")
  m:add("conv", "conv2", {out = 16, k = 3, pad = 1})
  m:add("bn", "bn2"); m:add("relu", "relu2")
  m:add("conv", "conv3", {out = 12, k = 3, pad = 1, stride = 2})
  m:add("relu", "relu3")
  m:add("gap", "gap"); m:add("flatten", "flat")
  m:add("linear", "fc", {out = 10})
  m:init_weights(seed)
  return m
end

return M
