-- Tensors: creation, shape, element access, counts, views, errors.
local T = require "nm.test"

T.case("shape and fill", function()
  local t = nm.tensor({2, 3, 4}, 0.5)
  T.eq(t:shape(), {2, 3, 4})
  T.eq(t:numel(), 24)
  T.eq(#t, 24)
  T.eq(t:dtype(), "f32")
  T.eq(t:nnz(), 24)
  T.near(t:get(2, 3, 4), 0.5)
  T.eq(nm.tensor({5}):nnz(), 0)
end)

T.case("get and set are row-major and 1-based", function()
  -- Fill with a value that encodes the index, then read back through
  -- totable, which walks the flat data in order: both must agree with
  -- the formula flat = ((i-1)*3 + (j-1))*2 + (k-1).
  local t = nm.tensor {4, 3, 2}
  for i = 1, 4 do for j = 1, 3 do for k = 1, 2 do
    t:set(i, j, k, 100 * i + 10 * j + k)
  end end end
  local tab = t:totable()
  T.eq(#tab, 4); T.eq(#tab[1], 3); T.eq(#tab[1][1], 2)
  for i = 1, 4 do for j = 1, 3 do for k = 1, 2 do
    T.eq(tab[i][j][k], 100 * i + 10 * j + k)
    T.eq(t:get(i, j, k), 100.0 * i + 10 * j + k)
  end end end
end)

T.case("nnz and density count nonzeros", function()
  local t = nm.tensor {10, 10}
  local n = 0
  for i = 1, 10 do for j = 1, 10 do
    if (i * j) % 3 == 0 then t:set(i, j, -1.25); n = n + 1 end
  end end
  T.eq(t:nnz(), n)
  T.near(t:density(), n / 100)
end)

T.case("integer dtypes", function()
  local m = nm.tensor({3}, 1, "u8")
  T.eq(m:dtype(), "u8")
  T.eq(math.type(m:get(1)), "integer")
  m:set(2, 0)
  T.eq(m:totable(), {1, 0, 1})
  T.raises(function() m:set(1, 256) end, "does not fit u8")
  T.raises(function() m:set(1, 0.5) end, "does not fit u8")
  T.raises(function() nm.tensor({2}, -1, "u8") end, "fill value")
  local i = nm.tensor({2}, -7, "i32")
  T.eq(i:totable(), {-7, -7})
end)

T.case("clone is independent", function()
  local a = nm.tensor({2, 2}, 1)
  local b = a:clone()
  b:set(1, 1, 5)
  T.eq(a:get(1, 1), 1.0)
  T.eq(b:get(1, 1), 5.0)
end)

T.case("bad arguments raise naming the argument", function()
  local t = nm.tensor {2, 3}
  T.raises(function() t:get(3, 1) end, "bad argument #1 to 'get' (index 3 out of range 1..2)")
  T.raises(function() t:get(1, 0) end, "bad argument #2 to 'get' (index 0 out of range 1..3)")
  T.raises(function() t:get(1) end, "2 dimensions but 1 indices")
  T.raises(function() t:set(1, 1) end, "2 dimensions but 1 indices")
  T.raises(function() t:set(1, 1, "x") end, "number expected")
  T.raises(function() nm.tensor {} end, "shape must have 1 to 4 dimensions")
  T.raises(function() nm.tensor {1, 2, 3, 4, 5} end, "shape must have 1 to 4 dimensions")
  T.raises(function() nm.tensor {2, 0} end, "shape[2] must be a positive integer")
  T.raises(function() nm.tensor {2.5} end, "shape[1] must be a positive integer")
  T.raises(function() nm.tensor("2x3") end, "bad argument #1 to 'tensor' (table expected")
  T.raises(function() nm.tensor({2}, 0, "f64") end, "invalid option 'f64'")
  T.raises(function() nm.tensor {1 << 40, 1 << 40} end, "too large")
  T.raises(function() t.get(42, 1, 1) end, "nm.tensor expected")
end)

T.case("free and close", function()
  local t = nm.tensor {4}
  t:free()
  T.eq(tostring(t), "nm.tensor (freed)")
  T.raises(function() t:numel() end, "tensor has been freed")
  t:free()   -- twice is harmless
  local outer
  do
    local c <close> = nm.tensor {3}
    outer = c
  end
  T.raises(function() outer:numel() end, "tensor has been freed")
end)

T.done()
