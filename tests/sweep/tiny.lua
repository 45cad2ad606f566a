-- A sweep spec with one kind of outcome per value of `kind` (tests/sweep/sweep.sh).
return {
  name = "tiny",
  params = {kind = {"ok", "raise", "exit", "spin"}, x = {1, 2}},
  seeds = 2,
  run = function(p)
    if p.kind == "raise" and not os.getenv("SWEEP_FIX") then error("boom " .. p.x) end
    if p.kind == "exit" then os.exit(3) end
    if p.kind == "spin" and not os.getenv("SWEEP_NOSPIN") then while true do end end
    return {y = p.x * 10 + p.seed, kind = p.kind, half = p.x / 2, good = true,
            note = "a, \"quoted\"\nline"}
  end,
}
