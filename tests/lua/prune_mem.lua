-- Masks created by nm.prune count against --mem-limit (run with 12M): a
-- 1500x1500 linear layer (9 MB of weights) fits, its 2.25 MB mask does not
-- once 2 MB more are held; dropping the ballast makes room.
local T = require "nm.test"

local m = nm.model("big", {1500, 1, 1})
m:add("flatten", "flat")
m:add("linear", "fc", {out = 1500, bias = false})
m:init_weights(1)
local ballast = nm.tensor({512, 1024})        -- 2 MB
T.raises(function() nm.prune.nm(m:layer("fc"), {n = 2, m = 4}) end, "memory limit")
ballast:free()
local r = nm.prune.nm(m:layer("fc"), {n = 2, m = 4})
T.eq(r.nonzeros, 1500 * 750)
nm.prune.reset(m)                              -- gives the mask back
local again = nm.tensor({512, 1024})
T.ok(again:numel() > 0)
print("ok")
