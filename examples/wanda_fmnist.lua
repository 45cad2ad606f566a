-- wanda_fmnist.lua: one-shot Wanda N:M against magnitude N:M, no
-- fine-tuning, on the shipped Fashion-MNIST model
-- (examples/models/fmnist_cnn.safetensors), scored on the 10000 test images.
--
--   nmlab run examples/wanda_fmnist.lua [CALIB_N ...]
--
-- Wanda ranks each weight by |w| x the L2 norm of the input feature it
-- reads over a calibration batch (the im2col row for a conv); here the
-- first CALIB_N training images (default 128 and 1024). Two scopes: nmlab's
-- default (first conv and classifier dense) and every conv/linear layer.
-- Needs Debian's dataset-fashion-mnist.
local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
local path = here .. "/models/fmnist_cnn.safetensors"
local dense, err = nm.load(path)
assert(dense, err)
local sizes = {}
for i = 1, #(arg or {}) do sizes[#sizes + 1] = math.tointeger(tonumber(arg[i])) end
if #sizes == 0 then sizes = {128, 1024} end

local test = nm.data.fashion_mnist{split = "test"}
local train = nm.data.fashion_mnist{split = "train", limit = math.max(table.unpack(sizes))}
local acc0 = dense:evaluate(test)
print(string.format("dense: %.4f (%d test images)", acc0, #test))

local header = {"N:M", "scope", "magnitude"}
for _, n in ipairs(sizes) do header[#header + 1] = "wanda calib " .. n end
print(table.concat(header, " | "))
for _, nm_ in ipairs({{2, 4}, {4, 9}, {3, 9}}) do
  for _, all in ipairs({false, true}) do
    local opts = {n = nm_[1], m = nm_[2], include_first = all, include_last = all}
    local mag <close> = dense:clone()
    nm.prune.nm(mag, opts)
    local row = {nm_[1] .. ":" .. nm_[2], all and "all layers" or "default",
                 string.format("%.4f", (mag:evaluate(test)))}
    for _, n in ipairs(sizes) do
      local w <close> = dense:clone()
      opts.score, opts.calib, opts.calib_n = "wanda", train, n
      nm.prune.nm(w, opts)
      row[#row + 1] = string.format("%.4f", (w:evaluate(test)))
    end
    print(table.concat(row, " | "))
    io.stdout:flush()
  end
end
