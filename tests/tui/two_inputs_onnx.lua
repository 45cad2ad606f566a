-- Writes a two-input ONNX file for the Activations screen checks
-- (frames.sh): input (1, 4, 4) and g (2, 4, 4); rg = relu(g) and
-- rn = relu(-g) (a 1x1 conv with weights -I), so the two ReLU densities
-- add up to 100% whatever g holds, and are both 0% if g is left at zero.
-- Usage: nmlab run two_inputs_onnx.lua OUT.onnx
local path = assert(arg[1], "usage: two_inputs_onnx.lua OUT.onnx")
local m = nm.model("act2", {1, 4, 4})
m:add_input("g", {2, 4, 4})
m:add("conv", "c", {out = 2, k = 1})
m:add("relu", "rg", {input = "g"})
m:add("conv", "ng", {input = "g", out = 2, k = 1})
m:add("relu", "rn")
m:add("add", "s1", {input = "c", with = "rg"})
m:add("add", "s2", {input = "s1", with = "rn"})
m:init_weights(1)
local w = m:layer("ng").weight
for o = 1, 2 do
  for c = 1, 2 do w:set(o, c, 1, 1, o == c and -1 or 0) end
end
assert(m:save(path))
