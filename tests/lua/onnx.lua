-- nm.load of an ONNX file with an unsupported operator: the model loads
-- and the second value lists what was skipped. The file is encoded here
-- by hand (protobuf wire format, ONNX field numbers), independently of
-- the engine's protobuf-c reader.
local T = require "nm.test"

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

-- ValueInfoProto{name, type{tensor_type{elem_type = FLOAT, shape{dim...}}}}
local function value_info(name, dims)
  local shape = {}
  for _, d in ipairs(dims) do shape[#shape + 1] = bytes(1, int(1, d)) end
  local tensor_type = int(1, 1) .. bytes(2, table.concat(shape))
  return bytes(1, name) .. bytes(2, bytes(1, tensor_type))
end
-- NodeProto{input..., output..., name, op_type}
local function node(op, name, inputs, outputs)
  local s = {}
  for _, i in ipairs(inputs) do s[#s + 1] = bytes(1, i) end
  for _, o in ipairs(outputs) do s[#s + 1] = bytes(2, o) end
  return table.concat(s) .. bytes(3, name) .. bytes(4, op)
end

-- x [1,1,4,4] -> Conv(W: 2 filters 1x1) -> c -> Relu -> r; LRN(c) -> k (unused)
local weight = int(1, 2) .. int(1, 1) .. int(1, 1) .. int(1, 1)   -- dims
    .. int(2, 1) .. bytes(8, "W") .. bytes(9, string.pack("<ff", 1.5, -2.0))
local graph = bytes(1, node("Conv", "conv", {"x", "W"}, {"c"}))
    .. bytes(1, node("Relu", "relu", {"c"}, {"r"}))
    .. bytes(1, node("LRN", "lrn", {"c"}, {"k"}))
    .. bytes(2, "g") .. bytes(5, weight)
    .. bytes(11, value_info("x", {1, 1, 4, 4}))
    .. bytes(12, value_info("r", {1, 2, 4, 4}))
local model = int(1, 7) .. bytes(8, bytes(1, "") .. int(2, 13)) .. bytes(7, graph)

local path = os.tmpname()
local f = assert(io.open(path, "wb"))
f:write(model)
f:close()

local m, warnings = nm.load(path)
os.remove(path)
T.ok(m, warnings)
T.eq(type(warnings), "string")
T.ok(warnings:find("LRN", 1, true), warnings)
local kinds = {}
for i, l in ipairs(m:layers()) do kinds[i] = l.kind end
T.eq(kinds, {"conv", "relu"})
local w = m:layer(1).weight
T.eq(w:shape(), {2, 1, 1, 1})
T.eq({w:get(1, 1, 1, 1), w:get(2, 1, 1, 1)}, {1.5, -2.0})
print("onnx ok: " .. warnings)

-- Symbolic height and width, two graph outputs, SiLU as Sigmoid x Mul:
-- x [N,1,H,W] -> Conv(W) -> c; s = Sigmoid(c); y = Mul(c, s); outputs y, c.
local function value_info_sym(name, dims)
  local shape = {}
  for _, d in ipairs(dims) do
    shape[#shape + 1] = bytes(1, type(d) == "string" and bytes(2, d) or int(1, d))
  end
  local tensor_type = int(1, 1) .. bytes(2, table.concat(shape))
  return bytes(1, name) .. bytes(2, bytes(1, tensor_type))
end
local graph2 = bytes(1, node("Conv", "conv", {"x", "W"}, {"c"}))
    .. bytes(1, node("Sigmoid", "sig", {"c"}, {"s"}))
    .. bytes(1, node("Mul", "silu", {"c", "s"}, {"y"}))
    .. bytes(2, "g2") .. bytes(5, weight)
    .. bytes(11, value_info_sym("x", {"N", 1, "H", "W"}))
    .. bytes(12, value_info_sym("y", {"N", 2, "H", "W"}))
    .. bytes(12, value_info_sym("c", {"N", 2, "H", "W"}))
local path2 = os.tmpname()
f = assert(io.open(path2, "wb"))
f:write(int(1, 7) .. bytes(8, bytes(1, "") .. int(2, 13)) .. bytes(7, graph2))
f:close()
local none, msg = nm.load(path2)
T.eq(none, nil)
T.ok(msg:find("symbolic ('H')", 1, true) and msg:find("input = {C, H, W}", 1, true), msg)
local m2 = assert(nm.load(path2, {input = {1, 3, 2}}))
local bad, msg2 = nm.load(path2, {input = {2, 3, 2}})
T.eq(bad, nil)
T.ok(msg2:find("not 2 as given", 1, true), msg2)
os.remove(path2)
T.eq(m2.input, {1, 3, 2})
local x = nm.tensor({2, 1, 3, 2})
for n = 1, 2 do for h = 1, 3 do for w = 1, 2 do x:set(n, 1, h, w, (n - 1.5) * h - w / 4) end end end
local y, c = m2:forward(x)
T.eq(y:shape(), {2, 2, 3, 2})
T.eq(c:shape(), {2, 2, 3, 2})
local k = {1.5, -2.0}
for n = 1, 2 do for o = 1, 2 do for h = 1, 3 do for w = 1, 2 do
  local cv = k[o] * x:get(n, 1, h, w)
  T.near(c:get(n, o, h, w), cv, 1e-6)
  T.near(y:get(n, o, h, w), cv / (1 + math.exp(-cv)), 1e-6)
end end end end
print("onnx symbolic input and two outputs ok")
