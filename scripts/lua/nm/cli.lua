-- nm.cli: what the nmlab command line does in Lua.
local nm = require "nm"
local M = {}

--- M.summary(source, default) -> true, or false after printing why.
--- source: a model file or zoo name (nil: the zoo model `default`).
function M.summary(source, default)
  local model, warnings
  local name = source or default
  local zoo = {}
  for _, z in ipairs(nm.zoo_list()) do zoo[z] = true end
  if zoo[name] then
    model = nm.zoo(name)
  else
    model, warnings = nm.load(name)
    if not model then
      io.stderr:write("nmlab: ", warnings, "\n")
      return false
    end
  end
  print(nm.summary(model))
  if warnings then io.stderr:write("warnings:\n", warnings, "\n") end
  print("hint: `nmlab run SCRIPT.lua` runs an experiment (docs/lua-api.md); " ..
    "`nmlab --help` lists the options")
  return true
end

return M
