-- Must exit with status 130 (cancelled): building a zoo model reports
-- progress while drawing its weights, so a cancel requested during the
-- build (here by nm._cancel_after, in the TUI by Ctrl-C) stops it. No Lua
-- code runs inside the build, so only the engine's progress can notice.
nm._cancel_after(1)
local ok, err = pcall(nm.zoo, "resnet50")
io.stderr:write("not cancelled: ", tostring(ok), " ", tostring(err), "\n")
os.exit(0)
