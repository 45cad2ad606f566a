-- Run with --sandbox --disk-limit 1M: the script may write 1 MiB in all,
-- through Lua files and nmlab's savers alike.
local T = require "nm.test"
local a, b, c = "nmlab-disk-a.bin", "nmlab-disk-b.bin", "nmlab-disk-c.npy"
local f = assert(io.open(a, "wb"))
T.ok(f:write(string.rep("a", 600 * 1024)))
local ok, err = f:write(string.rep("b", 600 * 1024))   -- 1200 KiB > 1 MiB
T.eq(ok, nil)
T.ok(tostring(err):find("disk write cap of 1048576 bytes"), err)
f:close()
local r = assert(io.open(a, "rb"))
T.eq(#r:read("a"), 600 * 1024)                      -- the refused write left nothing
r:close()
T.ok(os.remove(a))

io.output(b)                                         -- io.write counts too
local ok2, err2 = io.write(string.rep("c", 500 * 1024))
T.eq(ok2, nil)
T.ok(tostring(err2):find("disk write cap"), err2)
io.output():close()
io.output(io.stdout)
T.ok(os.remove(b))

-- nmlab's savers: 800 KB of f32 do not fit what is left (424 KiB); no file
local ok3, err3 = nm.npy_save(nm.tensor({200000}, 1), c)
T.eq(ok3, nil)
T.ok(tostring(err3):find("disk write cap"), err3)
T.eq(io.open(c), nil)
-- a small one still fits
T.eq(nm.npy_save(nm.tensor({10}, 2), c), true)
T.eq(nm.npy_load(c):get(3), 2)
T.ok(os.remove(c))
-- writing to the terminal or a pipe is not counted
T.ok(io.stdout:write(""))
print("sandbox disk ok")
