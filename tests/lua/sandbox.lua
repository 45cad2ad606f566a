-- Run with --sandbox from the build folder: no process control, no files
-- outside the working folder, no C modules or debug hooks.
local T = require "nm.test"
T.eq(os.execute, nil)
T.eq(io.popen, nil)
T.eq(os.exit, nil)
T.eq(os.getenv, nil)
T.eq(package.loadlib, nil)
T.eq(debug.sethook, nil)
T.eq(require("os").execute, nil)
T.eq(require("io").popen, nil)
T.eq(_G.os.execute, nil)
T.ok(debug.traceback)

T.raises(function() io.open("/etc/passwd") end, "outside the working folder")
T.raises(function() io.lines("../../../../../../etc/passwd") end, "outside the working folder")
T.raises(function() loadfile("/etc/passwd") end, "outside the working folder")
T.raises(function() dofile("/etc/hostname") end, "outside the working folder")
T.raises(function() os.remove("/tmp/x") end, "outside the working folder")
T.raises(function() os.rename("sandbox-x.txt", "/tmp/y") end, "outside the working folder")
T.raises(function() io.output("/tmp/nmlab-sandbox-test") end, "outside the working folder")

T.raises(function() nm.load("/etc/passwd") end, "outside the working folder")
T.raises(function() nm.model("m", {1, 2, 2}):save("/tmp/nmlab-sandbox.safetensors") end,
  "outside the working folder")
T.raises(function() nm.model("m", {1, 2, 2}):save("/tmp/nmlab-sandbox.onnx") end,
  "outside the working folder")
T.raises(function() nm.model("m", {1, 2, 2}):save_masks("/tmp/nmlab-sandbox-masks.safetensors") end,
  "outside the working folder")

-- files under the working folder work
local name = "nmlab-sandbox-test.txt"
local f = assert(io.open(name, "w"))
f:write("hello\n")
f:close()
T.eq(io.lines(name)(), "hello")
T.ok(os.rename(name, name .. ".2"))
T.ok(os.remove(name .. ".2"))
local m = nm.model("m", {1, 4, 4})
m:add("conv", "c", {out = 2, k = 3, pad = 1})
T.eq(m:save("nmlab-sandbox.safetensors"), true)
T.eq(nm.load("nmlab-sandbox.safetensors"):layer(1).name, "c")
T.ok(os.remove("nmlab-sandbox.safetensors"))
print("sandbox ok")
