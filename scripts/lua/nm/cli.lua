-- nm.cli: what the nmlab command line does in Lua.
local nm = require "nm"
local M = {}

--- M.summary(source, default) -> true, or false after printing why.
--- source: a model file or zoo name (nil: the default model, below).
--- Without a source it opens the trained model file shipped in the source
--- tree (`file`, looked up in the current folder, then nm.source_root)
--- when there is one.
function M.summary(source, default, file, input)
  local model, warnings
  local opts
  if input then   -- "CxHxW[,CxHxW...]" from --input (checked by the command line)
    local sizes = {}
    for entry in (input .. ","):gmatch("([^,]*),") do
      local c, h, w = entry:match("^(%d+)x(%d+)x(%d+)$")
      sizes[#sizes + 1] = c and {tonumber(c), tonumber(h), tonumber(w)} or {}
    end
    opts = {input = sizes}   -- one per graph input; {} leaves it to the file
  end
  local name = source or default
  file = file or "examples/models/fmnist_cnn.safetensors"
  if not source then
    for _, root in ipairs{".", nm.source_root} do   -- (no source_root in the sandbox)
      local path = root .. "/" .. file
      -- pcall: the sandbox raises for a path whose folder does not exist
      local ok, f = pcall(io.open, path, "rb")
      if ok and f then
        f:close()
        local err
        model, err = nm.load(path)
        if model then
          warnings = err
          print("trained model " .. path)
          break
        end
        io.stderr:write("nmlab: ", err, "\n")
      end
    end
    if not model then
      print(file .. " not found: zoo " .. default .. " with synthetic (untrained) weights")
    end
  end
  local zoo = {}
  for _, z in ipairs(nm.zoo_list()) do zoo[z] = true end
  if model then
    -- the shipped file, found above
  elseif zoo[name] then
    model = nm.zoo(name)
  else
    model, warnings = nm.load(name, opts)
    if not model then
      io.stderr:write("nmlab: ", warnings, "\n")
      return false
    end
    if opts and #opts.input > #model.inputs then
      io.stderr:write(string.format("nmlab: --input gives %d sizes but %s has %d graph input(s)\n",
                                    #opts.input, name, #model.inputs))
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
