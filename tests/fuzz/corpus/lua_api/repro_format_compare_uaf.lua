--lua nm.sim.format_compare: names made by __index (or numbers) freed while formatted
collectgarbage("incremental", 0, 1000, 0)
local rows = {}
for i = 1, 200 do rows[i] = setmetatable({}, {__index = function(_, k) if k ~= "cycles" then return k .. i .. ("y"):rep(40) end end}) end
rows[201] = {system = 4242, model = 77, switches = {}}
for _ = 1, 10 do pcall(nm.sim.format_compare, rows) end
