-- nm.prelude: the parts of module `nm` written in Lua. Loaded by the host
-- right after the C bindings, so everything here is plain `nm.*`.
local nm = require "nm"
local pretty = require "nm.pretty"

--- nm.summary(model) -> string: a layer table with totals.
function nm.summary(model)
  -- the metatables are locked: getmetatable gives the type name
  local mt = getmetatable(model)
  if mt ~= "nm.model" then
    error(("bad argument #1 to 'nm.summary' (nm.model expected, got %s)")
      :format(type(mt) == "string" and mt or type(model)), 2)
  end
  return pretty.summary(model)
end

--- nm.dump(value) -> string: a readable rendering of any Lua value.
nm.dump = pretty.dump

return nm
