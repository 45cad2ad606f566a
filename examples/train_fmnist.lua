-- Train fmnist_cnn on Fashion-MNIST in C and report test accuracy.
--   nmlab run examples/train_fmnist.lua [epochs] [limit]
-- The full run (5 epochs, all 60,000 images) reached 92.78 % test accuracy
-- in about 40 minutes on a busy 2-core machine (docs/results.md); a limit
-- of 2000 images and 3 epochs takes a minute and reaches about 80 %.
local epochs = tonumber(arg and arg[1]) or 3
local limit = tonumber(arg and arg[2]) or 2000

local train = assert(nm.data.fashion_mnist{limit = limit > 0 and limit or nil})
local test = assert(nm.data.fashion_mnist{train = false})
local m = nm.zoo("fmnist_cnn", {seed = 1})
print(("fmnist_cnn: %d parameters, %d training images, %d epochs"):format(m.params, #train, epochs))

local r = nm.train(m, train, {
  epochs = epochs, batch = 64, lr = 0.02, momentum = 0.9, weight_decay = 5e-4,
  schedule = "cosine", seed = 1, val = test,
  on_batch = function(p)
    if p.step % 100 == 0 then
      print(("  step %d/%d  loss %.4f  %.0f img/s"):format(p.step, p.steps, p.loss, p.images_per_s))
    end
  end,
  on_epoch = function(p)
    print(("epoch %d/%d  train loss %.4f acc %.2f %%  test acc %.2f %%  %.0f s"):format(
      p.epoch, p.epochs, p.loss, 100 * p.acc, 100 * p.val_acc, p.seconds))
  end,
})

local acc, loss, dens = m:evaluate(test, {density = true})
print(("test accuracy %.2f %% (loss %.4f) after %.0f s"):format(100 * acc, loss, r.seconds))
print(("activation density after relu1..relu4: %.2f %.2f %.2f %.2f"):format(
  dens.relu1, dens.relu2, dens.relu3, dens.relu4))
