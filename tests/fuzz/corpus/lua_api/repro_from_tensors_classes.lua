--lua nm.data.from_tensors with classes past 2^20 said "classes must be at least 2"
local x, y = nm.tensor({2, 1, 2, 2}, 1), nm.tensor({2}, 1, "i32")
for _, c in ipairs{1, 2^31 - 1, (1 << 20) + 1, 2} do pcall(nm.data.from_tensors, x, y, c) end
