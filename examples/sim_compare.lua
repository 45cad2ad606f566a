-- sim_compare.lua: the paper's four equal-area systems on four networks.
--
--   nmlab run examples/sim_compare.lua
--
-- Systems (JOINTNF.md section 6), sized by nm.sim.equal_area from the
-- array area of a 32x32 pMAC system: 32x32 pMAC, 20x20 bMAC (3:9 weights),
-- 16x16 nm-MAC-4-4 and 15x15 nm-MAC-6-4, weight stationary, 8-bit.
--
-- Pruning: nm.prune is not on main yet, so the models keep their dense
-- weights and each run *assumes* the pruned shape (run option `assume`,
-- docs/lua-api.md): declared weight N:M and a share of filters (and of
-- the next layers' input channels) removed, as JOINTNF.md section 7 sets:
--   pMAC dense; bMAC 3:9 weights; nm-4-4 JointNF-4-4-0.2 (4:9 weights,
--   20 % filters); nm-6-4 JointNF-6-4-0.1 (4:9 weights, 10 % filters).
--   MobileNet-v2: pointwise layers only. ViT-B/16: 30 % rows; 4:9 weights
--   in place of the paper's 4:8 so that they fit the 9-wide nm-MAC slices.
-- Data: nm systems take activations at their #D:9 (NMReLU); the paper
-- applies no NMReLU to ViT, so its nm rows are optimistic there.
-- Every number printed is followed by the switches it was computed with.

local specs = {
  {mac = "pmac"},
  {mac = "bmac", w = {3, 9}},
  {mac = "nm", d = {4, 9}, w = {4, 9}},
  {mac = "nm", d = {6, 9}, w = {4, 9}},
}
local budget = nm.sim.system{mac = "pmac", rows = 32, cols = 32}
local sides, systems = nm.sim.equal_area(specs, {budget = budget})
print(string.format("equal-area budget: array of %s = %.0f um^2 -> sides %s",
  "32x32 pMAC", budget:area().array, table.concat(sides, ", ")))

local function assume_for(model_name)
  local only = model_name == "mobilenet_v2" and "pointwise" or "all"
  local f44, f64 = 0.2, 0.1
  if model_name == "vit_b16" then f44, f64 = 0.3, 0.3 end
  return {
    false,
    {w = {3, 9}, layers = only},
    {w = {4, 9}, filters = f44, layers = only},
    {w = {4, 9}, filters = f64, layers = only},
  }
end

local models = {"resnet18", "resnet50", "mobilenet_v2", "vit_b16"}
for _, name in ipairs(models) do
  local t0 = os.clock()
  local m <close> = nm.zoo(name)
  local rows = nm.sim.compare(systems, {m}, {assume = assume_for(name)})
  print()
  print(string.format("%s (%s; %.1f s CPU)", name, nm.zoo_describe(name), os.clock() - t0))
  print(tostring(rows))
end
