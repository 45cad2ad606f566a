-- train_fmnist.lua: trains the zoo's fmnist_cnn (dense) on Fashion-MNIST
-- with nm.train and saves it as the model nmlab opens by default.
--
--   nmlab run examples/train_fmnist.lua [OUT] [--epochs N] [--batch B]
--       [--lr X] [--limit N] [--seed S] [--from MODEL]
--
-- OUT defaults to examples/models/fmnist_cnn.safetensors beside this
-- script. Settings default to the run recorded in docs/results.md: SGD,
-- momentum 0.9, weight decay 5e-4, lr 0.05 with a cosine schedule to 0,
-- batch 64, 3 epochs, seed 1 (initial weights and shuffling). Reports the
-- accuracy on the 10000 test images after every epoch. Needs Debian's
-- dataset-fashion-mnist package. On 2 shared cores an epoch takes ~8-10
-- minutes; run with OMP_WAIT_POLICY=passive on a busy machine. --from
-- continues training a saved model instead of starting from the zoo's
-- seeded weights.
local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
local opts = {epochs = 3, batch = 64, lr = 0.05, limit = 0, seed = 1,
              out = here .. "/models/fmnist_cnn.safetensors"}
local from

local i = 1
while arg and arg[i] do
  local a = arg[i]
  local key = a:match("^%-%-(%w+)$")
  if key == "from" then
    from = arg[i + 1] or error("--from needs a model file", 0)
    i = i + 2
  elseif key then
    if opts[key] == nil or key == "out" then error("unknown option " .. a, 0) end
    local v = tonumber(arg[i + 1])
    if v == nil then error(a .. " needs a number", 0) end
    opts[key] = v
    i = i + 2
  else
    opts.out = a
    i = i + 1
  end
end

local train = nm.data.fashion_mnist{split = "train", limit = opts.limit}
local test = nm.data.fashion_mnist{split = "test"}
local model = from and assert(nm.load(from)) or nm.zoo("fmnist_cnn", {seed = opts.seed})
if from then print("continuing from " .. from) end
print(string.format("fmnist_cnn: %d parameters; %d training, %d test images", model.params,
  #train, #test))
print(string.format("SGD momentum 0.9, weight decay 5e-4, lr %g cosine, batch %d, %d epochs, " ..
  "seed %d", opts.lr, opts.batch, opts.epochs, opts.seed))

local t0 = os.time()
local p = nm.train(model, train, {
  epochs = opts.epochs, batch = opts.batch, lr = opts.lr, optimizer = "sgd", momentum = 0.9,
  weight_decay = 5e-4, schedule = "cosine", seed = opts.seed, val = test,
  on_batch = function(p)
    if p.step % 100 == 0 then
      print(string.format("  step %d/%d  lr %.4f  loss %.4f  %.0f img/s", p.step, p.steps,
        p.lr, p.loss, p.images_per_s))
    end
  end,
  on_epoch = function(p)
    print(string.format("epoch %d/%d  train loss %.4f acc %.4f  test loss %.4f acc %.4f  %.0f s",
      p.epoch, p.epochs, p.loss, p.acc, p.val_loss, p.val_acc, p.seconds))
  end,
})
print(string.format("test accuracy %.2f %% after %d epochs, %.0f s (%d s wall), %.0f img/s",
  100 * p.val_acc, p.epochs, p.seconds, os.time() - t0, p.images_per_s))

local ok, err = model:save(opts.out)
if not ok then error(err, 0) end
print("wrote " .. opts.out)
