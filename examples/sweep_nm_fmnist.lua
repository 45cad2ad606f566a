-- sweep_nm_fmnist.lua: a sweep spec (docs/sweeps.md): the shipped
-- Fashion-MNIST CNN pruned N:M (first conv and classifier dense), fine-tuned
-- FT_STEPS SGD steps with the point's seed for the shuffling, scored on the
-- first TEST images of the test set.
--
--   nmlab sweep examples/sweep_nm_fmnist.lua --db nm_fmnist.db [-j N]
--   nmlab -e 'for _, g in ipairs(nm.runs.open("nm_fmnist.db"):group("acc")) do
--     print(g.params.n, g.params.m, g.mean, g.ci95) end'
local FT_STEPS, BATCH, TEST = 5, 64, 500
local model_file = nm.source_root .. "/examples/models/fmnist_cnn.safetensors"

return {
  name = "nm_fmnist",
  params = {n = {1, 2, 4}, m = {8}},
  seeds = 2,
  run = function(p)
    local m = assert(nm.load(model_file))
    nm.prune.nm(m, {n = p.n, m = p.m})
    local train = nm.data.fashion_mnist{split = "train", limit = FT_STEPS * BATCH}
    local test = nm.data.fashion_mnist{split = "test", limit = TEST}
    local prog = nm.train(m, train, {max_steps = FT_STEPS, batch = BATCH, lr = 0.01,
                                     seed = p.seed, schedule = "cosine"})
    local acc, loss = m:evaluate(test, {batch = 250})
    return {acc = acc, loss = loss, train_loss = prog.loss, train_seconds = prog.seconds}
  end,
}
