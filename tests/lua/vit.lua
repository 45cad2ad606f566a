-- model:forward through the transformer kinds a script can add (layernorm,
-- gelu, softmax) on a token sequence (features x tokens x 1), against
-- values computed here in Lua (erf by its Taylor series). The whole zoo
-- ViT-B/16 runs in vit_zoo.lua (suite slow).
local T = require "nm.test"

local function erf(x)
  -- 2/sqrt(pi) * sum (-1)^n x^(2n+1) / (n! (2n+1)); |x| < 3 here
  local sum, term, n = 0, x, 0
  while math.abs(term) > 1e-17 or n < 5 do
    sum = sum + term / (2 * n + 1)
    n = n + 1
    term = -term * x * x / n
  end
  return sum * 2 / math.sqrt(math.pi)
end

T.case("linear -> layernorm -> gelu -> softmax on 3 tokens of 4 features", function()
  local D, S = 4, 3
  local m = nm.model("tokens", {D, S, 1})
  local fc = m:add("linear", "fc", {out = D})
  m:add("layernorm", "ln")
  m:add("gelu", "gelu")
  m:add("softmax", "softmax")
  m:init_weights(1)   -- layer norm gamma 1, beta 0
  local W, b = {}, {0.1, -0.2, 0.3, 0.05}
  for o = 1, D do
    W[o] = {}
    for i = 1, D do
      W[o][i] = ((o * 7 + i * 3) % 11 - 5) / 4
      fc.weight:set(o, i, W[o][i])
    end
    fc.bias:set(o, b[o])
  end
  local N = 2
  local x = nm.tensor({N, D, S, 1})
  for n = 1, N do
    for i = 1, D do
      for t = 1, S do x:set(n, i, t, 1, math.sin(n * 3 + i * 1.7 + t * 0.9) * 2) end
    end
  end
  local y = m:forward(x)
  T.eq(y:shape(), {N, D, S, 1})
  for n = 1, N do
    for t = 1, S do
      local h, mean, var = {}, 0, 0
      for o = 1, D do
        h[o] = b[o]
        for i = 1, D do h[o] = h[o] + W[o][i] * x:get(n, i, t, 1) end
        mean = mean + h[o] / D
      end
      for o = 1, D do var = var + (h[o] - mean) ^ 2 / D end
      local e, sum = {}, 0
      for o = 1, D do
        local z = (h[o] - mean) / math.sqrt(var + 1e-5)
        local g = 0.5 * z * (1 + erf(z / math.sqrt(2)))
        e[o] = math.exp(g)
        sum = sum + e[o]
      end
      for o = 1, D do T.near(y:get(n, o, t, 1), e[o] / sum, 1e-5) end
    end
  end
  -- every sample's softmax sums to 1 over the features, not over tokens
  local s = 0
  for o = 1, D do s = s + y:get(1, o, 2, 1) end
  T.near(s, 1, 1e-5)
end)

T.case("training refuses the transformer kinds", function()
  local m = nm.model("tok", {4, 1, 1})
  m:add("linear", "fc", {out = 3})
  m:add("gelu", "g")
  m:init_weights(2)
  local x = nm.tensor({4, 4, 1, 1}, 0.5)
  local d = nm.data.from_tensors(x, {0, 1, 2, 0}, 3, "d")
  T.raises(function() nm.train(m, d, {epochs = 1, batch = 2}) end, "inference only")
end)

T.done()
