-- Must exit with status 130 (cancelled): model:save of an ONNX file reports
-- progress per layer, so a cancel requested during the export (here by
-- nm._cancel_after, in the TUI by Ctrl-C) stops it and leaves no file.
-- arg[1]: a scratch file path (the caller removes it; ".onnx" is added).
local path = assert(arg[1], "usage: export_cancel.lua SCRATCH_FILE") .. ".onnx"
local m = nm.zoo("fmnist_cnn")
nm._cancel_after(1)
local ok, err = m:save(path)
os.remove(path)
io.stderr:write("not cancelled: ", tostring(ok), " ", tostring(err), "\n")
os.exit(0)
