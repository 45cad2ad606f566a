-- fig_util: what the fig_*.lua examples share: the output folder, a clear
-- stop when a binding is missing from this build, saving with a report.
--
--   local F = require "fig_util"        -- found beside the running script
--   local dir = F.outdir()              -- arg[1], default "out", created
--   F.need("prune", "global")           -- raises unless nm.prune.global exists
--   F.save(p, dir, "density.png")
local F = {}

-- Whether `path` names an existing file or folder: renaming a path onto
-- itself succeeds exactly when it exists (plain Lua has no stat).
local function exists(path)
  return os.rename(path, path) ~= nil
end

--- F.outdir() -> path: the folder given as the script's first argument
--- (default "out"), created if missing with `mkdir -p`. Under --sandbox,
--- where os.execute is removed, the folder must exist already.
function F.outdir()
  local dir = arg and arg[1] or "out"
  if not exists(dir) then
    if not os.execute then
      error("folder '" .. dir .. "' does not exist; create it first " ..
            "(os.execute is not available under --sandbox)", 0)
    end
    local quoted = "'" .. dir:gsub("'", "'\\''") .. "'"
    local ok = os.execute("mkdir -p " .. quoted)
    if not ok or not exists(dir) then
      error("cannot create folder '" .. dir .. "'", 0)
    end
  end
  return dir
end

--- F.need(module, fn, ...): raises a clear error unless nm[module][fn]
--- (and each further function named) is in this build.
function F.need(module, ...)
  local t = nm[module]
  local missing
  if type(t) ~= "table" then
    missing = "nm." .. module
  else
    for _, fn in ipairs{...} do
      if t[fn] == nil then missing = "nm." .. module .. "." .. fn break end
    end
  end
  if missing then
    error(string.format("%s is not in this build of nmlab (%s): this example " ..
      "needs it; build a version that includes the %s bindings", missing,
      nm.version, module), 0)
  end
end

--- F.save(plot, dir, name [, keep]): writes the PNG, prints its path, raises
--- on failure; frees the plot unless `keep` (to stack it into a figure later).
function F.save(p, dir, name, keep)
  local path = dir .. "/" .. name
  local ok, err = p:save(path)
  if not ok then error(err, 0) end
  print("wrote " .. path)
  if not keep then p:free() end
  return path
end

return F
