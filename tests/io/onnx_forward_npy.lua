-- onnx_forward_npy.lua - nmlab's forward of an imported ONNX model on a
-- fixed smooth input, written with the input as .npy files for an
-- independent evaluation (tests/io/onnx_ref_eval.py):
--
--   nmlab run tests/io/onnx_forward_npy.lua MODEL.onnx C H W N OUTDIR
--     -> OUTDIR/x.npy [N, C, H, W] and OUTDIR/y_nmlab.npy (first output)
--
-- Also prints the output's shape and, for an output that is a softmax over
-- its channel axis, the largest |sum - 1| over the positions.
local path, c, h, w, n, dir = ...
assert(dir, "usage: onnx_forward_npy.lua MODEL.onnx C H W N OUTDIR")
c, h, w, n = tonumber(c), tonumber(h), tonumber(w), tonumber(n)
local m, warn = nm.load(path, {input = {c, h, w}})
assert(m, warn)
if warn then print("warnings: " .. warn) end
print(tostring(m))
local x = nm.tensor({n, c, h, w})
for s = 1, n do for k = 1, c do for i = 1, h do for j = 1, w do
  x:set(s, k, i, j, 0.8 * math.sin(0.37 * k + 0.11 * i * s + 0.023 * j * k))
end end end end
local y = m:forward(x)
local shape = y:shape()
print("output [" .. table.concat(shape, ", ") .. "]")
if #shape == 4 then
  local worst = 0
  for s = 1, shape[1] do for i = 1, shape[3] do for j = 1, shape[4] do
    local sum = 0
    for k = 1, shape[2] do sum = sum + y:get(s, k, i, j) end
    worst = math.max(worst, math.abs(sum - 1))
  end end end
  print(string.format("largest |sum over channels - 1|: %.3g", worst))
end
assert(nm.npy_save(x, dir .. "/x.npy"))
assert(nm.npy_save(y, dir .. "/y_nmlab.npy"))
