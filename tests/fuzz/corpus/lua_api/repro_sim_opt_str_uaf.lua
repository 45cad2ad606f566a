--lua nm.sim.system: a mac string made by __index was freed while the binding used it
collectgarbage("incremental", 0, 1000, 0)
for i = 1, 200 do
  pcall(nm.sim.system, setmetatable({}, {__index = function(_, k)
    if k == "mac" then return ("bogus-mac-%d-%s"):format(i, ("m"):rep(60)) end
    if k == "d" then for j = 1, 50 do local _ = {j, ("g"):rep(j)} end return {2, 4} end
  end}))
end
