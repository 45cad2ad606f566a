-- 40 points that do nothing: the per-point cost of the pool (bench_sweep.sh)
local xs = {}
for i = 1, 40 do xs[i] = i end
return {name = "empty", params = {x = xs}, run = function(p) return {x = p.x} end}
