-- 8 CPU-bound points of the same pure-Lua work (tests/sweep/bench_sweep.sh)
return {name = "cpu", params = {x = {1, 2, 3, 4, 5, 6, 7, 8}}, run = function(p)
  local s = 0
  for i = 1, 3e7 do s = s + i % 7 end
  return {s = s}
end}
