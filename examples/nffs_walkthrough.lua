-- nffs_walkthrough.lua: NFFS (N:M first, filters second) on a small matrix,
-- step by step (JOINTNF.md section 3), then the engine's nm.prune.nffs on
-- the same weights, and the other order (filters first) for comparison.
--
--   nmlab run examples/nffs_walkthrough.lua [SEED]      (default 5)
--
-- W is 6 filters x 8 inputs (a linear layer), N:M = 2:4 along the row,
-- U = 2 filters removed.
local SEED = tonumber(arg[1] or "5")
local R, D, N, M, U = 6, 8, 2, 4, 2

math.randomseed(SEED)
local W = {}
for i = 1, R do
  W[i] = {}
  for j = 1, D do W[i][j] = math.floor((math.random() * 2 - 1) * 90 + 0.5) / 10 end
end

local function show(title, get, mark)
  print(title)
  for i = 1, R do
    local cells = {}
    for j = 1, D do
      local v = get(i, j)
      cells[j] = v == 0 and "    ." or string.format("%5.1f", v)
      if j % M == 0 and j < D then cells[j] = cells[j] .. " |" end
    end
    print(string.format("  f%d %s%s", i, table.concat(cells, " "), mark and mark(i) or ""))
  end
end

show("W (groups of 4 along each row, separated by |):", function(i, j) return W[i][j] end)

-- Step 1: in every group keep the N largest |w| (ties: lower index).
local S = {}
for i = 1, R do
  S[i] = {}
  for s = 1, D, M do
    local idx = {}
    for j = s, s + M - 1 do idx[#idx + 1] = j end
    table.sort(idx, function(a, b)
      if math.abs(W[i][a]) ~= math.abs(W[i][b]) then return math.abs(W[i][a]) > math.abs(W[i][b]) end
      return a < b
    end)
    for r, j in ipairs(idx) do S[i][j] = r <= N and W[i][j] or 0 end
  end
end
print()
show(string.format("Step 1: %d:%d in every group (the %d smallest |w| of each group go):",
  N, M, M - N), function(i, j) return S[i][j] end)

-- Step 2: L1 norm of each row of the N:M-sparse matrix.
local norm, order = {}, {}
for i = 1, R do
  norm[i] = 0
  for j = 1, D do norm[i] = norm[i] + math.abs(S[i][j]) end
  order[i] = i
end
print()
print("Step 2: L1 norm of each row after N:M:")
for i = 1, R do print(string.format("  f%d  %6.1f", i, norm[i])) end

-- Step 3: remove the U rows of smallest norm (ties: lower row).
table.sort(order, function(a, b) if norm[a] ~= norm[b] then return norm[a] < norm[b] end return a < b end)
local gone = {}
for k = 1, U do gone[order[k]] = true end
print()
show(string.format("Step 3: remove the %d filters of smallest norm:", U),
  function(i, j) return gone[i] and 0 or S[i][j] end,
  function(i) return gone[i] and string.format("   <- removed (%.1f)", norm[i]) or "" end)

local total, kept = 0, 0
for i = 1, R do
  for j = 1, D do total = total + math.abs(W[i][j]) end
  if not gone[i] then kept = kept + norm[i] end
end
print(string.format("\n|w| removed by NFFS: %.1f of %.1f", total - kept, total))

-- The engine on the same weights.
local m = nm.model("walk", {D, 1, 1})
m:add("flatten", "flat")
m:add("linear", "fc", {out = R, bias = false})
local l = m:layer("fc")
for i = 1, R do for j = 1, D do l.weight:set(i, j, W[i][j]) end end
nm.prune.nffs(l, {n = N, m = M, u = U, group = "in"})
local same = true
for i = 1, R do
  local removed = l.filters:get(i) == 0
  if removed ~= (gone[i] == true) then same = false end
  for j = 1, D do
    local k = (not removed) and l.mask:get(i, j) ~= 0
    if k ~= (not gone[i] and S[i][j] ~= 0) then same = false end
  end
end
print("nm.prune.nffs gives the same mask and filters: " .. tostring(same))

-- The other order: filters first (by the L1 norm of the dense rows), then N:M.
local dnorm, dorder = {}, {}
for i = 1, R do
  dnorm[i] = 0
  for j = 1, D do dnorm[i] = dnorm[i] + math.abs(W[i][j]) end
  dorder[i] = i
end
table.sort(dorder, function(a, b) if dnorm[a] ~= dnorm[b] then return dnorm[a] < dnorm[b] end return a < b end)
local kept2 = 0
local gone2 = {}
for k = 1, U do gone2[dorder[k]] = true end
for i = 1, R do if not gone2[i] then kept2 = kept2 + norm[i] end end
local names = {}
for k = 1, U do names[k] = "f" .. dorder[k] end
print(string.format("filters first (dense L1) would remove %s: |w| removed %.1f " ..
  "(NFFS: %.1f; never less, since N:M removes the same weights either way)",
  table.concat(names, ", "), total - kept2, total - kept))
