-- Writes an ONNX file whose input is [N, 1, H, W] with symbolic H and W
-- (Conv with 2 filters, Sigmoid, Mul), encoded here by hand (protobuf wire
-- format, ONNX field numbers). Usage: nmlab run symbolic_onnx.lua OUT.onnx
-- [two | two_fixed]: "two" adds a second graph input g [N, 2, A, B]
-- (symbolic A, B) that scales the output (y = c * sigmoid(c) * g, model
-- "symnet2"); "two_fixed" the same with x fixed at [N, 1, 8, 8].
local path = assert(arg[1], "usage: symbolic_onnx.lua OUT.onnx [two | two_fixed]")
local mode = arg[2]
local function varint(n)
  local out = {}
  repeat
    local b = n & 0x7f
    n = n >> 7
    if n ~= 0 then b = b | 0x80 end
    out[#out + 1] = string.char(b)
  until n == 0
  return table.concat(out)
end
local function int(field, n) return varint(field << 3) .. varint(n) end
local function bytes(field, s) return varint(field << 3 | 2) .. varint(#s) .. s end
local function value_info(name, dims)
  local shape = {}
  for _, d in ipairs(dims) do
    shape[#shape + 1] = bytes(1, type(d) == "string" and bytes(2, d) or int(1, d))
  end
  return bytes(1, name) .. bytes(2, bytes(1, int(1, 1) .. bytes(2, table.concat(shape))))
end
local function node(op, name, inputs, outputs)
  local s = {}
  for _, i in ipairs(inputs) do s[#s + 1] = bytes(1, i) end
  for _, o in ipairs(outputs) do s[#s + 1] = bytes(2, o) end
  return table.concat(s) .. bytes(3, name) .. bytes(4, op)
end
local weight = int(1, 2) .. int(1, 1) .. int(1, 1) .. int(1, 1)
    .. int(2, 1) .. bytes(8, "W") .. bytes(9, string.pack("<ff", 1.5, -2.0))
local graph
if mode then
  graph = bytes(1, node("Conv", "conv", {"x", "W"}, {"c"}))
    .. bytes(1, node("Sigmoid", "sig", {"c"}, {"s"}))
    .. bytes(1, node("Mul", "silu", {"c", "s"}, {"t"}))
    .. bytes(1, node("Mul", "gate", {"t", "g"}, {"y"}))
    .. bytes(2, "symnet2") .. bytes(5, weight)
    .. bytes(11, value_info("x", mode == "two_fixed" and {"N", 1, 8, 8} or {"N", 1, "H", "W"}))
    .. bytes(11, value_info("g", {"N", 2, "A", "B"}))
    .. bytes(12, value_info("y", {"N", 2, "H", "W"}))
else
  graph = bytes(1, node("Conv", "conv", {"x", "W"}, {"c"}))
    .. bytes(1, node("Sigmoid", "sig", {"c"}, {"s"}))
    .. bytes(1, node("Mul", "silu", {"c", "s"}, {"y"}))
    .. bytes(2, "symnet") .. bytes(5, weight)
    .. bytes(11, value_info("x", {"N", 1, "H", "W"}))
    .. bytes(12, value_info("y", {"N", 2, "H", "W"}))
end
local f = assert(io.open(path, "wb"))
f:write(int(1, 7) .. bytes(8, bytes(1, "") .. int(2, 13)) .. bytes(7, graph))
f:close()
