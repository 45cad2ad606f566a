-- Run with --mem-limit 6M: fmnist_cnn (3.5 MB of weights) fits, but an ONNX
-- export (a second copy of the weights) and a shrink (a second model) do
-- not: both raise "not enough memory" and the export leaves no file.
local T = require "nm.test"

local path = os.tmpname() .. ".onnx"
local m = nm.zoo("fmnist_cnn")

T.case("ONNX export is refused up front", function()
  local err = T.raises(function() m:save(path) end, "not enough memory")
  T.ok(err:find(path, 1, true), err)
  T.eq(io.open(path), nil, "a refused export left a file")
end)

T.case("shrink draws its model on the limit", function()
  T.raises(function() m:shrink() end, "not enough memory")
end)

T.case("the safetensors masks still fit", function()
  local masks = os.tmpname()
  T.eq(m:save_masks(masks), true)
  os.remove(masks)
end)

T.done()
