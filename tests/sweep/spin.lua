-- Every point runs for ever: for the Ctrl-C test (tests/sweep/sweep.sh).
return {name = "spin", params = {k = {1, 2, 3, 4}}, run = function() while true do end end}
