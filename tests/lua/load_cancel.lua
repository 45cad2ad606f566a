-- Must exit with status 130 (cancelled): nm.load reports progress while it
-- reads a safetensors model, so a cancel requested during the read (here by
-- nm._cancel_after, in the TUI by Ctrl-C) stops it. No Lua code runs inside
-- the read, so only the reader's progress can notice. arg[1]: a scratch
-- file path (the caller removes it).
local path = assert(arg[1], "usage: load_cancel.lua SCRATCH_FILE")
assert(nm.zoo("fmnist_cnn"):save(path))
nm._cancel_after(1)
local m, err = nm.load(path)
io.stderr:write("not cancelled: ", tostring(m), " ", tostring(err), "\n")
os.exit(0)
