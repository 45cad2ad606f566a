--lua nm.summary of a tensor, nil, a table or a layer
local m = nm.model("tiny", {1, 4, 4})
m:add("conv", "conv1", {out = 2, k = 3, pad = 1})
for _, v in ipairs{nm.tensor({2}), {stats = 1}, m:layer(1), m} do pcall(nm.summary, v) end
pcall(nm.summary)
m:free()
return pcall(nm.summary, m)
