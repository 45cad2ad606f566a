-- coroutine.resume and coroutine.wrap are replaced by versions the host
-- tracks (so Ctrl-C reaches a running coroutine); they must behave as the
-- standard ones.
local T = require "nm.test"

T.case("resume passes values both ways", function()
  local co = coroutine.create(function(a, b)
    local c = coroutine.yield(a + b)
    local d, e = coroutine.yield(c * 2)
    return d .. e
  end)
  T.eq({coroutine.resume(co, 1, 2)}, {true, 3})
  T.eq({coroutine.resume(co, 5)}, {true, 10})
  T.eq({coroutine.resume(co, "x", "y")}, {true, "xy"})
  T.eq(coroutine.status(co), "dead")
  T.eq({coroutine.resume(co)}, {false, "cannot resume dead coroutine"})
end)

T.case("resume reports errors", function()
  local co = coroutine.create(function() error("inside") end)
  local ok, err = coroutine.resume(co)
  T.eq(ok, false)
  T.ok(err:find("inside", 1, true), err)
  T.raises(function() coroutine.resume(42) end, "coroutine expected")
  local err_obj = {}
  T.eq({coroutine.resume(coroutine.create(function() error(err_obj) end))}, {false, err_obj})
end)

T.case("wrap yields and propagates errors with position", function()
  local gen = coroutine.wrap(function()
    for i = 1, 3 do coroutine.yield(i) end
  end)
  T.eq({gen(), gen(), gen()}, {1, 2, 3})
  gen()
  T.raises(function() gen() end, "cannot resume dead coroutine")
  local bad = coroutine.wrap(function() error("oops") end)
  T.raises(bad, "oops")
  local obj = setmetatable({}, {__tostring = function() return "obj" end})
  local ok, e = pcall(coroutine.wrap(function() error(obj) end))
  T.eq(ok, false)
  T.eq(e, obj)
end)

T.case("wrap closes to-be-closed variables on error", function()
  local closed = false
  local f = coroutine.wrap(function()
    local x <close> = setmetatable({}, {__close = function() closed = true end})
    coroutine.yield(1)
    error("after yield")
  end)
  T.eq(f(), 1)
  T.raises(f, "after yield")
  T.eq(closed, true)
end)

T.case("nested coroutines", function()
  local outer = coroutine.wrap(function()
    local inner = coroutine.wrap(function() coroutine.yield("a") coroutine.yield("b") end)
    coroutine.yield(inner() .. inner())
  end)
  T.eq(outer(), "ab")
  T.eq(coroutine.isyieldable(), false)
end)

T.done()
