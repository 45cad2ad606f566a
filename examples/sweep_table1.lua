-- sweep_table1.lua: the small Table 1 (examples/table1_fmnist.lua) as a
-- sweep spec (docs/sweeps.md): every method x seed is one point, so seeds
-- give a mean and a 95 % interval, a crashed method does not lose the
-- others, and a cut run resumes.
--
--   nmlab sweep examples/sweep_table1.lua --db table1.db [-j N]
--   nmlab run examples/sweep_table1_report.lua table1.db [OUT.png]
--
-- Methods (as in table1_fmnist.lua, from the shipped dense fmnist_cnn):
--   dense       the dense model fine-tuned with the same budget
--   nm4, nm3    N:M 4:9 / 3:9 one-shot (first conv and classifier dense)
--   srste       SR-STE 3:9 from dense, every conv/linear layer
--   slim        network slimming: BN-L1, 60 % of the filters by |gamma|
--   jnf442_*    JointNF-4-4-0.2 (NMReLU 4:9, weights 4:9, 20 % filters)
--   jnf641_*    JointNF-6-4-0.1; * = NMReLU policy first or topk
-- Budget per method: EPOCHS epoch(s) of fine-tuning in all (SGD, batch 64,
-- lr 0.01 cosine per block, momentum 0.9, weight decay 5e-4), split into 4
-- blocks (JointNF: one before each of its 3 rounds, one after); the seed
-- shuffles the fine-tuning data. Scored on the test set.
--
-- The environment sets a reduced run (to check the pipeline; its numbers
-- mean little). They are params of every point, so a reduced run's points
-- have other ids than the full run's and the two never mix in a database:
--   T1_SEEDS        seeds (default 5)
--   T1_TRAIN_LIMIT  training images (default 0 = all 60000)
--   T1_TEST_LIMIT   test images (default 0 = all 10000)
--   T1_EPOCHS       epochs of fine-tuning per method (default 1)
-- (Not under --sandbox: it reads the environment and nm.source_root.)
local function env(name, default)
  local v = os.getenv(name)
  if v == nil or v == "" then return default end
  local n = math.tointeger(tonumber(v))
  if n == nil or n < 0 then error(name .. " must be a whole number >= 0, not '" .. v .. "'", 0) end
  return n
end
local SEEDS = env("T1_SEEDS", 5)
local TRAIN_LIMIT, TEST_LIMIT = env("T1_TRAIN_LIMIT", 0), env("T1_TEST_LIMIT", 0)
local EPOCHS = env("T1_EPOCHS", 1)
if SEEDS < 1 or EPOCHS < 1 then error("T1_SEEDS and T1_EPOCHS must be at least 1", 0) end
local BATCH, FT_LR, L1_BN, SRSTE_LAMBDA, ROUNDS = 64, 0.01, 1e-4, 2e-4, 3
local ACT_LAYERS = {"relu1", "relu2", "relu3", "relu4"}
local MODEL = assert(nm.source_root, "sweep_table1.lua needs nm.source_root (not --sandbox)") ..
  "/examples/models/fmnist_cnn.safetensors"

-- Loaded once here: the workers fork from this state (docs/sweeps.md).
local train = nm.data.fashion_mnist{split = "train", limit = TRAIN_LIMIT}
local test = nm.data.fashion_mnist{split = "test", limit = TEST_LIMIT}
local BLOCK_STEPS = math.max(1, math.ceil(EPOCHS * #train / BATCH / 4))

local function finetune(model, seed, block, extra)
  local o = {epochs = 1000, max_steps = BLOCK_STEPS, batch = BATCH, lr = FT_LR, momentum = 0.9,
             weight_decay = 5e-4, schedule = "cosine", seed = seed * 100 + block}
  for k, v in pairs(extra or {}) do o[k] = v end
  return nm.train(model, train, o)
end

-- Weights, measured MACs (each layer's nonzero weights x positions x the
-- measured density of its input on the test set) and dense MACs of the
-- conv/linear layers, as table1_fmnist.lua measures them.
local function measure(model, dens)
  local s = {params = 0, nonzeros = 0, macs = 0, meas = 0}
  local layers = model:layers()
  for idx, r in ipairs(model:stats()) do
    if r.kind == "conv" or r.kind == "linear" then
      local src = layers[idx].inputs[1]
      local d = src > 0 and dens[src].density or 1
      s.params, s.nonzeros = s.params + r.params, s.nonzeros + r.nonzeros
      s.macs = s.macs + r.macs
      s.meas = s.meas + r.positions * r.nonzeros * d
    end
  end
  return s
end

local dense_macs = measure(assert(nm.load(MODEL)), setmetatable({}, {__index = function()
  return {density = 1} end})).macs

local methods = {
  dense = function(m, seed)
    for b = 1, 4 do finetune(m, seed, b) end
  end,
  srste = function(m, seed)
    for b = 1, 4 do finetune(m, seed, b, {srste = {n = 3, m = 9, lambda = SRSTE_LAMBDA}}) end
  end,
  slim = function(m, seed)
    for b = 1, 2 do finetune(m, seed, b, {l1_bn = L1_BN}) end
    nm.prune.filters(m, {ratio = 0.6, score = "bn"})
    for b = 3, 4 do finetune(m, seed, b) end
  end,
}
for _, n in ipairs{4, 3} do
  methods["nm" .. n] = function(m, seed)
    nm.prune.nm(m, {n = n, m = 9})
    for b = 1, 4 do finetune(m, seed, b) end
  end
end
for _, cfg in ipairs{{"jnf442", 4, 4, 0.2}, {"jnf641", 6, 4, 0.1}} do
  for _, policy in ipairs{"first", "topk"} do
    methods[cfg[1] .. "_" .. policy] = function(m, seed)
      m:set_activation(ACT_LAYERS, {n = cfg[2], m = 9, policy = policy})
      nm.prune.jointnf(m, {n = cfg[3], m = 9, filters = cfg[4], rounds = ROUNDS,
        finetune = function(model, round) finetune(model, seed, round, {l1_bn = L1_BN}) end})
      finetune(m, seed, ROUNDS + 1)
    end
  end
end

return {
  name = "table1_fmnist",
  params = {
    method = {"dense", "nm4", "nm3", "srste", "slim", "jnf442_first", "jnf442_topk",
              "jnf641_first", "jnf641_topk"},
    train_limit = {TRAIN_LIMIT}, test_limit = {TEST_LIMIT}, epochs = {EPOCHS},
  },
  seeds = SEEDS,
  run = function(p)
    local t0 = os.time()
    local m = assert(nm.load(MODEL))
    methods[p.method](m, p.seed)
    local acc, loss, dens = m:evaluate(test, {batch = 250})
    local s = measure(m, dens)
    return {acc = acc, loss = loss, weight_density = s.nonzeros / s.params,
            measured_macs = s.meas, measured_macs_rel = s.meas / dense_macs,
            ft_steps = 4 * BLOCK_STEPS, train_images = #train, test_images = #test,
            seconds = os.time() - t0}
  end,
}
