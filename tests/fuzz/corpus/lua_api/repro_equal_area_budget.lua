--lua equal_area: a budget past 2^62 cells converted a huge double to int
local r = {}
for _, b in ipairs{1e308, 1/0, 1e12} do r[#r+1] = pcall(nm.sim.equal_area, {"pmac", "nm"}, {budget = b}) end
return r
