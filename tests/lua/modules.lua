-- The embedded library loads from any working folder (meson runs this from
-- /), user modules next to the script are found, and chunks are text only.
local T = require "nm.test"
local pretty = require "nm.pretty"
T.eq(pretty.count(11689512), "11.7M")
T.eq(pretty.count(999), "999")
T.eq(pretty.percent(0.4375), "43.8%")
T.eq(package.searchers[2]("nm.pretty") ~= nil, true)

-- tests/lua/helper_mod.lua, found through the script's folder
local helper = require "helper_mod"
T.eq(helper.answer, 42)

-- precompiled chunks are refused by load, loadfile and dofile
local bytecode = string.dump(function() return 1 end)
local f, err = load(bytecode)
T.eq(f, nil)
T.ok(err:find("attempt to load a binary chunk", 1, true), err)
T.eq(load("return 1 + 1")(), 2)
T.eq(load("return x", "chunk", "bt", {x = 5})(), 5)   -- mode is forced, env kept
local env_nil = load("return _ENV", "c", "t", nil)
T.eq(env_nil(), nil)
-- loadfile: the same forcing of mode "t" (argument 2), env kept
local function write(path, bytes)
  local fh = assert(io.open(path, "wb"))
  fh:write(bytes)
  fh:close()
end
local bin, txt = os.tmpname(), os.tmpname()
write(bin, bytecode)
write(txt, "return x")
for _, mode in ipairs({"b", "bt"}) do
  local lf, lerr = loadfile(bin, mode)
  T.eq(lf, nil)
  T.ok(lerr:find("attempt to load a binary chunk", 1, true), lerr)
end
T.eq(loadfile(txt, "b", {x = 7})(), 7)
T.eq(loadfile(txt)(), nil)
T.raises(function() dofile(bin) end, "attempt to load a binary chunk")
os.remove(bin)
os.remove(txt)

T.raises(function() require "no_such_module_here" end, "no embedded module 'no_such_module_here'")
print("modules ok")
