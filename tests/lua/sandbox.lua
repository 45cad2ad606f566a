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

-- no file oracle: searchpath and require answer the same for a file that
-- exists outside the folder and one that does not
local function same_answer(f, present, absent)
  local a = {f(present)}
  local b = {f(absent)}
  T.eq(a[1], b[1])
  T.eq((tostring(a[2]):gsub(present, "X")), (tostring(b[2]):gsub(absent, "X")))
end
same_answer(function(n) return package.searchpath(n, "/etc/?") end, "passwd", "nmlabnosuchfile")
T.eq(package.searchpath("passwd", "/etc/?;/etc/?.x"), nil)
same_answer(function(n) return pcall(package.searchpath, n, "../../../../../../../etc/?") end,
  "passwd", "nmlabnosuchfile")
local saved_path = package.path
package.path = "/etc/?"
same_answer(function(n) return pcall(require, n) end, "passwd", "nmlabnosuchfile")
package.path = saved_path
-- inside the folder searchpath and require still work
local mod = assert(io.open("nmlab_sandbox_mod.lua", "w"))
mod:write("return {answer = 42}\n")
mod:close()
T.eq(package.searchpath("nmlab_sandbox_mod", "./?.lua"), "./nmlab_sandbox_mod.lua")
package.path = "./?.lua;" .. package.path
T.eq(require("nmlab_sandbox_mod").answer, 42)
package.path = saved_path
T.ok(os.remove("nmlab_sandbox_mod.lua"))

-- a memory cap by default (1 GiB): a 1.1 GiB string is refused
local ok, err = pcall(string.rep, "x", 1100 * 2^20)
T.eq(ok, false)
T.ok(tostring(err):find("not enough memory"), err)

-- a cap on written files (1 GiB): a byte past it fails (sparse: no disk used)
local big = "nmlab-sandbox-big.bin"
local f = assert(io.open(big, "w"))
T.ok(f:seek("set", 2^30))
local wrote, werr = f:write("x")
if wrote then wrote, werr = f:flush() end
f:close()
T.ok(os.remove(big))
T.eq(wrote, nil)
T.ok(tostring(werr):find("too large"), werr)

-- no build paths: nm.source_root is gone and arg does not name the executable
T.eq(nm.source_root, nil)
local first = -1
while arg[first - 1] ~= nil do first = first - 1 end
T.eq(arg[first], "nmlab")
print("sandbox ok")
