--lua nm.sim.format_compare: names made by __index (or numbers) freed while formatted
collectgarbage("incremental", 0, 1000, 0)
local rows = {}
for i = 1, 60 do rows[i] = setmetatable({}, {__index = function(_, k) if k ~= "cycles" then return k .. i .. ("y"):rep(40) end end}) end
rows[61] = {system = 4242, model = 77, switches = {}}
for _ = 1, 5 do pcall(nm.sim.format_compare, rows) end
