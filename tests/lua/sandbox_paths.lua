-- Run with --sandbox in a folder holding `7`, a symlink to a file outside
-- it (tests/lua/meson.build makes it): a number is a file name to io and
-- os, so numbers must be checked like strings.
local T = require "nm.test"
local outside = "outside the working folder"
T.raises(function() io.open(7) end, outside)
T.raises(function() io.open(7, "w") end, outside)
T.raises(function() io.lines(7) end, outside)
T.raises(function() io.input(7) end, outside)
T.raises(function() io.output(7) end, outside)
T.raises(function() os.remove(7) end, outside)
T.raises(function() os.rename(7, "moved") end, outside)
T.raises(function() os.rename("nmlab-sandbox-absent", 7) end, outside)
T.raises(function() loadfile(7) end, outside)
T.raises(function() dofile(7) end, outside)
T.raises(function() nm.load(7) end, outside)
T.raises(function() nm.npy_load(7) end, outside)

-- numbers naming files inside the folder still work
local f = assert(io.open(5, "w"))
f:write("five\n")
f:close()
T.eq(io.lines(5)(), "five")
T.ok(os.remove(5))
print("sandbox paths ok")
