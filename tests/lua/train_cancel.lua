-- Must exit with status 130 (cancelled): nm.train polls the host's cancel flag after every
-- step, so a cancel requested during training stops it with an error and
-- the script never reaches os.exit(0). No Lua callback is set, so only
-- the engine's own polling can notice the request.
local x = nm.tensor({64, 1, 4, 4}, 0.5)
local labels = {}
for i = 1, 64 do labels[i] = i % 2 end
local d = nm.data.from_tensors(x, labels, 2)
local m = nm.model("lin", {1, 4, 4})
m:add("flatten", "flat")
m:add("linear", "fc", {out = 2})
m:init_weights(1)
nm._cancel_after(3)
local ok, err = pcall(nm.train, m, d, {epochs = 100000, batch = 8})
-- even a pcall cannot swallow cancellation: reaching here means it failed
io.stderr:write("not cancelled: ", tostring(ok), " ", tostring(err), "\n")
os.exit(0)
