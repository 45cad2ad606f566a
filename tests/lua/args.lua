-- `nmlab run SCRIPT ARGS...` sets `arg` like the lua interpreter and passes
-- the arguments as `...`. meson runs: nmlab run args.lua one "two words" --three
local T = require "nm.test"
T.eq(arg[0]:match("args%.lua$"), "args.lua")
T.eq(arg[-1], "run")
T.ok(arg[-2]:match("nmlab$"), "arg[-2] is the program")
T.eq(#arg, 3)
T.eq({arg[1], arg[2], arg[3]}, {"one", "two words", "--three"})
T.eq({...}, {"one", "two words", "--three"})
T.eq(select("#", ...), 3)
print("args ok")
