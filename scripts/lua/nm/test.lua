-- nm.test: a tiny assertion helper for tests run with `nmlab run`.
--
--   local T = require "nm.test"
--   T.case("tensors", function()
--     T.eq(nm.tensor({2}, 1):nnz(), 2)
--   end)
--   T.done()          -- raises (exit status 1) if any case failed
--
-- A failed assertion raises with the caller's line, so outside T.case it
-- stops the script with a traceback and `nmlab run` exits non-zero.
local pretty = require "nm.pretty"
local T = { failures = {}, skipped = {}, passed = 0 }

local function deep_eq(a, b)
  if a == b then return true end
  if type(a) ~= "table" or type(b) ~= "table" then return false end
  for k, v in pairs(a) do
    if not deep_eq(v, b[k]) then return false end
  end
  for k in pairs(b) do
    if a[k] == nil then return false end
  end
  return true
end

local function fail(msg, level)
  error(msg, level + 1)
end

--- T.ok(v [, msg]): v must be truthy.
function T.ok(v, msg)
  if not v then fail((msg or "expected a true value") .. ", got " .. tostring(v), 2) end
  return v
end

--- T.eq(actual, expected [, msg]): equal, tables compared deeply.
function T.eq(actual, expected, msg)
  if not deep_eq(actual, expected) then
    fail(string.format("%sexpected %s, got %s", msg and msg .. ": " or "",
      pretty.dump(expected), pretty.dump(actual)), 2)
  end
end

--- T.near(actual, expected [, tol [, msg]]): |actual - expected| <= tol (1e-6).
function T.near(actual, expected, tol, msg)
  tol = tol or 1e-6
  if type(actual) ~= "number" or math.abs(actual - expected) > tol then
    fail(string.format("%sexpected %s within %g, got %s", msg and msg .. ": " or "",
      tostring(expected), tol, tostring(actual)), 2)
  end
end

--- T.raises(fn, pattern) -> message: fn() must raise an error whose message
--- contains `pattern` (a plain string).
function T.raises(fn, pattern)
  local ok, err = pcall(fn)
  if ok then fail("expected an error containing '" .. pattern .. "', but none was raised", 2) end
  err = tostring(err)
  if not err:find(pattern, 1, true) then
    fail("expected an error containing '" .. pattern .. "', got: " .. err, 2)
  end
  return err
end

--- T.skip(reason): ends the running case as skipped (missing input data,
--- say), which T.done reports but does not count as a failure.
function T.skip(reason)
  error({skip = reason}, 2)
end

--- T.case(name, fn): runs fn, recording a failure instead of stopping.
function T.case(name, fn)
  local ok, err = xpcall(fn, debug.traceback)
  if ok then
    T.passed = T.passed + 1
  elseif type(err) == "table" and err.skip then
    T.skipped[#T.skipped + 1] = name
    io.stderr:write("SKIP ", name, ": ", tostring(err.skip), "\n")
  else
    T.failures[#T.failures + 1] = name .. ": " .. tostring(err)
    io.stderr:write("FAIL ", name, ": ", tostring(err), "\n")
  end
end

--- T.done(): prints a summary; raises if any case failed.
function T.done()
  local n = #T.failures
  print(string.format("%d passed, %d failed%s", T.passed, n,
    #T.skipped > 0 and string.format(", %d skipped", #T.skipped) or ""))
  if n > 0 then error(n .. " test case(s) failed", 0) end
end

return T
