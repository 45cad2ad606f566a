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

T.raises(function() require "no_such_module_here" end, "no embedded module 'no_such_module_here'")
print("modules ok")
