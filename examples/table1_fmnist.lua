-- table1_fmnist.lua: the paper's Table 1 comparison (JOINTNF.md section 7)
-- at small scale: fmnist_cnn on Fashion-MNIST, dense vs N:M-only, SR-STE,
-- filter-only (network slimming) and JointNF with NMReLU.
--
--   nmlab run examples/table1_fmnist.lua [OUTDIR] [--quick] [--policy first|topk]
--
-- Writes OUTDIR/table1_fmnist.csv and .json (OUTDIR default "out") and
-- prints the table. --quick shrinks everything (a few hundred images, a few
-- steps) to check the pipeline in seconds; its accuracies mean nothing.
-- Needs nm.prune (the pruning bindings), nm.train and Debian's
-- dataset-fashion-mnist.
--
-- BUDGET (the same for every method, so the rows compare):
--   pretraining: the shipped dense model examples/models/fmnist_cnn.safetensors
--     (examples/train_fmnist.lua: 3 epochs, see docs/results.md); when it is
--     missing, PRETRAIN_EPOCHS of dense training first.
--   fine-tuning: 4 blocks of FT_STEPS SGD steps (batch BATCH, lr FT_LR cosine
--     within a block, momentum 0.9, weight decay 5e-4) per pruned model:
--     JointNF: one block before each of its 3 rounds (with BN-L1 L1_BN) and
--       one after the last round;
--     N:M one-shot: prune, then the 4 blocks;
--     SR-STE: the 4 blocks with SR-STE (lambda SRSTE_LAMBDA) from dense;
--     network slimming: 2 blocks with BN-L1, remove 60 % of the filters by
--       |gamma|, 2 blocks without.
--   Every model is scored once on the 10000 test images.
-- Scope: the first conv and the classifier stay dense (nm.prune's default),
-- except for SR-STE, which the engine applies to every conv/linear layer.
-- NMReLU n:9 replaces the ReLUs after the four convs (relu1..relu4; groups
-- of 9 consecutive output positions per channel, policy POLICY); relu5
-- (after fc1, a 1x1 plane) stays a ReLU.
local ROUNDS, FT_STEPS, BATCH, FT_LR = 3, 60, 64, 0.01
local L1_BN, SRSTE_LAMBDA, PRETRAIN_EPOCHS = 1e-4, 2e-4, 3
local TRAIN_LIMIT, TEST_LIMIT = 0, 0
local POLICY = "first"
local ACT_LAYERS = {"relu1", "relu2", "relu3", "relu4"}

local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
local outdir, quick = "out", false
local i = 1
while arg and arg[i] do
  local a = arg[i]
  if a == "--quick" then
    quick = true
  elseif a == "--policy" then
    POLICY = arg[i + 1]
    i = i + 1
    if POLICY ~= "first" and POLICY ~= "topk" then error("--policy must be first or topk", 0) end
  elseif a:sub(1, 2) == "--" then
    error("unknown option " .. a .. " (use --quick, --policy first|topk)", 0)
  else
    outdir = a
  end
  i = i + 1
end
if quick then
  FT_STEPS, BATCH, TRAIN_LIMIT, TEST_LIMIT, PRETRAIN_EPOCHS = 2, 32, 320, 200, 1
end

for _, f in ipairs{"nm", "filters", "jointnf"} do
  if not (nm.prune and nm.prune[f]) then
    error("nm.prune." .. f .. " is not in this build of nmlab (" .. nm.version ..
      "): this example needs the pruning bindings", 0)
  end
end
if not os.rename(outdir, outdir) then
  if not os.execute or not os.execute("mkdir -p '" .. outdir:gsub("'", "'\\''") .. "'") then
    error("cannot create folder '" .. outdir .. "'", 0)
  end
end

local train = nm.data.fashion_mnist{split = "train", limit = TRAIN_LIMIT}
local test = nm.data.fashion_mnist{split = "test", limit = TEST_LIMIT}
local t_start = os.time()

-- Fine-tuning block: FT_STEPS steps, masks enforced by nm.train.
local block = 0
local function finetune(model, extra)
  block = block + 1
  local o = {epochs = 1000, max_steps = FT_STEPS, batch = BATCH, lr = FT_LR, momentum = 0.9,
             weight_decay = 5e-4, schedule = "cosine", seed = 100 + block}
  for k, v in pairs(extra or {}) do o[k] = v end
  local p = nm.train(model, train, o)
  io.write(string.format("    fine-tune block %d: %d steps, loss %.3f, train acc %.3f, %.0f s\n",
    block, p.step, p.loss, p.acc, p.seconds))
  return p
end

-- The dense start.
local dense
local shipped = here .. "/models/fmnist_cnn.safetensors"
local f = io.open(shipped, "rb")
if f and not quick then
  f:close()
  dense = assert(nm.load(shipped))
  print("dense start: " .. shipped)
else
  if f then f:close() end
  dense = nm.zoo("fmnist_cnn", {seed = 1})
  print(string.format("dense start: fmnist_cnn trained here for %d epoch(s)", PRETRAIN_EPOCHS))
  nm.train(dense, train, {epochs = PRETRAIN_EPOCHS, batch = BATCH, lr = 0.05, momentum = 0.9,
                          weight_decay = 5e-4, schedule = "cosine", seed = 1,
                          max_steps = quick and 10 or 0})
end

-- ------------------------------------------------------------ measures

local function ceil_log2(m)
  local b = 0
  while (1 << b) < m do b = b + 1 end
  return b
end

-- Weight density, effective and measured MACs, storage bits of a model
-- (conv and linear layers), given its per-layer output densities `dens`.
-- eff MACs: positions * kept weights * (#D/n_D where data N:M applies:
-- the stats row's act_applied, i.e. the layer reads an NMReLU output
-- through pooling or flatten at most, else 1), JOINTNF.md section 5
-- (act_frac is kept for the callers: the NMReLUs' n/9); measured MACs use
-- the measured density of the layer's input instead. Storage: an N:M layer
-- (declared n:m) stores its nonzeros as 8-bit values plus ceil(log2 M)
-- index bits each; any other layer stores its kept filters x kept input
-- channels densely at 8 bits. assume_m: the M of layers whose N:M is not
-- declared (SR-STE leaves every conv/linear row N:M without declaring it).
local function measure(model, dens, act_frac, assume_m)
  local s = {params = 0, nonzeros = 0, macs = 0, eff = 0, meas = 0, bits = 0}
  local layers = model:layers()
  for idx, r in ipairs(model:stats()) do
    if r.kind == "conv" or r.kind == "linear" then
      local l = layers[idx]
      local src = l.inputs[1]
      local act, meas = 1, 1
      if src > 0 then
        local p = layers[src]
        meas = dens[src].density
        if p.kind == "nmrelu" then assert(r.act_applied and r.act_n / r.act_m == act_frac) end
      end
      if r.act_applied then act = r.act_n / r.act_m end
      s.params, s.nonzeros = s.params + r.params, s.nonzeros + r.nonzeros
      s.macs = s.macs + r.macs
      s.eff = s.eff + r.positions * r.nonzeros * act
      s.meas = s.meas + r.positions * r.nonzeros * meas
      local _, m = r.nm:match("^(%d+):(%d+)$")
      m = m or assume_m
      if m then
        s.bits = s.bits + r.nonzeros * (8 + ceil_log2(tonumber(m)))
      else
        local per = r.params // (r.filters * r.in_chans)
        s.bits = s.bits + r.filters_kept * r.in_chans_kept * per * 8
      end
    end
  end
  return s
end

local rows, dense_row = {}, nil
local function record(name, model, notes, act_n, assume_m)
  io.write(string.format("  %s: evaluating on %d test images\n", name, #test))
  local acc, loss, dens = model:evaluate(test, {batch = 250})
  -- mean density of the four conv activations, weighted by their sizes
  local num, den = 0, 0
  for _, a in ipairs(ACT_LAYERS) do
    local l = model:layer(a)
    local sz = l.out_shape[1] * l.out_shape[2] * l.out_shape[3]
    num, den = num + dens[a] * sz, den + sz
  end
  local s = measure(model, dens, (act_n or 9) / 9, assume_m)
  local row = {method = name, acc = acc, loss = loss, weight_density = s.nonzeros / s.params,
               act_density = num / den, eff_macs = s.eff, measured_macs = s.meas,
               dense_macs = s.macs, storage_bits = s.bits, notes = notes,
               act_nm = act_n and (act_n .. ":9") or "", seconds = 0}
  if not dense_row then dense_row = row end
  row.delta = 100 * (acc - dense_row.acc)
  row.eff_macs_rel = s.eff / dense_row.dense_macs
  row.measured_macs_rel = s.meas / dense_row.dense_macs
  row.storage_rel = s.bits / dense_row.storage_bits
  rows[#rows + 1] = row
  io.write(string.format("  %s: test acc %.2f %% (%+.2f), weights %.1f %%, activations %.1f %%\n",
    name, 100 * acc, row.delta, 100 * row.weight_density, 100 * row.act_density))
  return row
end

-- Sets NMReLU n:9 on the conv activations (or back to ReLU with n = 0).
local function nmrelu(model, n)
  model:set_activation(ACT_LAYERS, n > 0 and {n = n, m = 9, policy = POLICY} or nil)
end

local function timed(name, fn)
  print(name)
  local t0 = os.time()
  local row = fn()
  row.seconds = os.time() - t0
end

-- ------------------------------------------------------------- methods

timed("Dense", function()
  return record("Dense", dense, "pretrained start")
end)

for _, n in ipairs{4, 3} do
  local name = string.format("N:M %d:9 one-shot", n)
  timed(name, function()
    local m = dense:clone()
    nm.prune.nm(m, {n = n, m = 9})
    for _ = 1, 4 do finetune(m) end
    return record(name, m, "kernel groups (fc1: input groups), + 4 fine-tune blocks")
  end)
end

timed("SR-STE 3:9", function()
  local m = dense:clone()
  for _ = 1, 4 do finetune(m, {srste = {n = 3, m = 9, lambda = SRSTE_LAMBDA}}) end
  return record("SR-STE 3:9", m, "all conv/linear layers incl. first and classifier", nil, 9)
end)

timed("Slimming 60% filters", function()
  local m = dense:clone()
  for _ = 1, 2 do finetune(m, {l1_bn = L1_BN}) end
  nm.prune.filters(m, {ratio = 0.6, score = "bn"})
  for _ = 1, 2 do finetune(m) end
  return record("Slimming 60% filters", m, "BN-L1 fine-tune, |gamma| ranking, global")
end)

for _, cfg in ipairs{{4, 4, 0.2}, {6, 4, 0.1}} do
  local d, w, ratio = cfg[1], cfg[2], cfg[3]
  local name = string.format("JointNF-%d-%d-%.1f", d, w, ratio)
  timed(name, function()
    local m = dense:clone()
    nmrelu(m, d)
    nm.prune.jointnf(m, {n = w, m = 9, filters = ratio, rounds = ROUNDS,
      finetune = function(model, round) finetune(model, {l1_bn = L1_BN}) end})
    finetune(m)
    return record(name, m, string.format("NMReLU %d:9 (%s), %d rounds", d, POLICY, ROUNDS), d)
  end)
end

-- ------------------------------------------------------------- output

local cols = {
  {"method", "%-22s"}, {"acc", "%7.2f", 100}, {"delta", "%+7.2f"},
  {"weight_density", "%8.1f%%", 100}, {"act_density", "%8.1f%%", 100},
  {"eff_macs_rel", "%8.1f%%", 100}, {"measured_macs_rel", "%8.1f%%", 100},
  {"storage_bits", "%9.0f", 1 / 1000}, {"storage_rel", "%8.1f%%", 100},
}
print(string.format("\n%-22s %7s %7s %9s %9s %9s %9s %9s %9s", "method", "acc %", "d pts",
  "weights", "acts", "eff MACs", "meas MAC", "kbit", "storage"))
for _, r in ipairs(rows) do
  local parts = {}
  for k, c in ipairs(cols) do
    local v = r[c[1]]
    if c[3] then v = v * c[3] end
    parts[k] = string.format(c[2], v)
  end
  print(table.concat(parts, " "))
end

local keys = {"method", "acc", "delta", "weight_density", "act_density", "act_nm", "eff_macs_rel",
              "measured_macs_rel", "storage_bits", "storage_rel", "dense_macs", "eff_macs",
              "measured_macs", "loss", "seconds", "notes"}
local function cell(v)
  if type(v) == "string" then return '"' .. v:gsub('"', '""') .. '"' end
  return string.format("%.6g", v)
end
local csv = {table.concat(keys, ",")}
for _, r in ipairs(rows) do
  local t = {}
  for k, key in ipairs(keys) do t[k] = cell(r[key]) end
  csv[#csv + 1] = table.concat(t, ",")
end

local function jstr(s) return '"' .. s:gsub('[%c"\\]', function(c)
  return string.format("\\u%04x", c:byte()) end) .. '"' end
local json = {"{", string.format('  "settings": {"rounds": %d, "ft_steps": %d, "batch": %d, ' ..
  '"ft_lr": %g, "l1_bn": %g, "srste_lambda": %g, "policy": %s, "quick": %s, ' ..
  '"train_images": %d, "test_images": %d, "seconds": %d},', ROUNDS, FT_STEPS, BATCH, FT_LR, L1_BN,
  SRSTE_LAMBDA, jstr(POLICY), tostring(quick), #train, #test, os.time() - t_start), '  "rows": ['}
for n, r in ipairs(rows) do
  local t = {}
  for k, key in ipairs(keys) do
    local v = r[key]
    t[k] = jstr(key) .. ": " .. (type(v) == "string" and jstr(v) or string.format("%.6g", v))
  end
  json[#json + 1] = "    {" .. table.concat(t, ", ") .. "}" .. (n < #rows and "," or "")
end
json[#json + 1] = "  ]"
json[#json + 1] = "}"

-- Written to a temporary name, then renamed into place.
local function write(name, text)
  local path = outdir .. "/" .. name
  local fh = assert(io.open(path .. ".tmp", "w"))
  fh:write(text, "\n")
  fh:close()
  assert(os.rename(path .. ".tmp", path))
  print("wrote " .. path)
end
write("table1_fmnist.csv", table.concat(csv, "\n"))
write("table1_fmnist.json", table.concat(json, "\n"))
print(string.format("total %d s", os.time() - t_start))
