#!/usr/bin/env bash
# Batch-mode checks of the workbench: `nmlab --frames N --keys ...` renders
# without a terminal and prints the last frame; each check greps it. Also the
# smoke test under the sanitizers. Usage: frames.sh NMLAB_BINARY
set -u
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
export XDG_CONFIG_HOME
XDG_CONFIG_HOME=$(mktemp -d)
trap 'rm -rf "$XDG_CONFIG_HOME"' EXIT
passes=0 fails=0

# check NAME PATTERN -- nmlab args...: the frame must match PATTERN (grep -E);
# the frame is 120x40 unless FC and FL give the columns and lines
check() {
  local name=$1 pat=$2; shift 3
  local out
  out=$(COLUMNS=${FC:-120} LINES=${FL:-40} "$bin" "$@" 2>&1)
  local rc=$?
  if [ $rc -eq 0 ] && printf '%s\n' "$out" | grep -qE -- "$pat"; then
    echo "ok - $name"; passes=$((passes + 1))
  else
    echo "not ok - $name (exit $rc): /$pat/ not in:"; printf '%s\n' "$out" | sed 's/^/#   /'
    fails=$((fails + 1))
  fi
}

check "layers screen lists the model" ">  1 conv1 .* 32x1x3x3 .*100\.0%" -- --frames 2 fmnist_cnn
check "model totals in the header" "fmnist_cnn +871 k params +19\.1 M MACs" -- --frames 1 fmnist_cnn
check "sort by MACs puts fc1 first" "^>? +[0-9]+ fc1 " -- --frames 2 --keys s,s,s fmnist_cnn
check "Enter opens the mask of the selected layer" "w\[1, 1\] = .*(kept|pruned) +\(c_in 1, kh 1, kw 1" -- --frames 3 --keys Enter fmnist_cnn
check "mask cursor moves (1-based, as in Lua)" "w\[2, 3\] = .*\(c_in 1, kh 1, kw 3" -- --frames 6 --keys Enter,Down,Right,Right fmnist_cnn
check "mask fit magnifies a small layer" "conv1 +\[32 x 9\].*magnified: 1 cell = 1x2 chars" -- --frames 3 --keys Enter fmnist_cnn
check "mask zoom in magnifies" "magnified: 1 cell = 2x4 chars.*" -- --frames 3 --keys Enter,+ fmnist_cnn
check "mask zoom out downsamples" "downsampled 2x2 cells per char" -- --frames 3 --keys Enter,- fmnist_cnn
check "mask fit uses the height of a wide layer" "conv4 +\[64 x 576\].*downsampled 2x5 cells" -- --frames 14 --keys Down,Down,Down,Down,Down,Down,Down,Down,Down,Down,Enter fmnist_cnn
check "array screen steps cycles" "cycle 3 / [0-9]+" -- --frames 5 --screen array --keys n,n,n fmnist_cnn
check "array steps back one cycle" "cycle 2 / [0-9]+" -- --frames 6 --screen array --keys n,n,n,N fmnist_cnn
check "array steps back past the load phase" "cycle 0 / [0-9]+ .*loading weights" -- --frames 4 --screen array --keys n,N,N fmnist_cnn
a25=$(COLUMNS=120 LINES=40 "$bin" --frames 30 --screen array --keys "$(printf 'n,%.0s' $(seq 1 25))N" fmnist_cnn 2>&1)
a24=$(COLUMNS=120 LINES=40 "$bin" --frames 30 --screen array --keys "$(printf 'n,%.0s' $(seq 1 24))Space,Space" fmnist_cnn 2>&1)
if [ "$a25" = "$a24" ] && grep -q "cycle 24 / " <<<"$a24"; then
  echo "ok - a step back shows what stepping there showed (grid and per-PE counts)"; passes=$((passes + 1))
else
  echo "not ok - a step back shows what stepping there showed"; diff <(echo "$a25") <(echo "$a24") | sed 's/^/#   /'; fails=$((fails + 1))
fi
check "array MAC kind switch" "mac=nm-6:9-4:9" -- --frames 3 --screen array --keys m fmnist_cnn
# r/c step the array's rows and columns on every press (the MAC name was
# copied onto itself: the second press changed nothing and m went to bmac)
check "array rows and columns step on every press" "array=32x20 " -- --frames 5 --screen array --keys r,r,c fmnist_cnn
check "the stepped array is the one simulated" "0/640 busy now" -- --frames 5 --screen array --keys r,r,c fmnist_cnn
check "m after r and c goes to the next MAC" "mac=nm-6:9-4:9 array=20x20 " -- --frames 5 --screen array --keys r,c,m fmnist_cnn
FC=80 FL=24 check "a clipped array grid says so at 80x24" "clipped: 15x16 of 32x16 PEs shown" -- --frames 4 --screen array --keys r,r fmnist_cnn
check "teaching mode walks the nm-MAC" "walk-through" -- --frames 3 --screen array --keys T,n fmnist_cnn
# the walk-through steps back as well as forward
back=$(COLUMNS=120 LINES=40 "$bin" --frames 6 --screen array --keys T,n,n,N fmnist_cnn 2>&1)
fwd=$(COLUMNS=120 LINES=40 "$bin" --frames 4 --screen array --keys T,n fmnist_cnn 2>&1)
two=$(COLUMNS=120 LINES=40 "$bin" --frames 5 --screen array --keys T,n,n fmnist_cnn 2>&1)
if [ "$back" = "$fwd" ] && [ "$back" != "$two" ] && grep -q "walk-through" <<<"$back"; then
  echo "ok - the walk-through steps back with N"; passes=$((passes + 1))
else
  echo "not ok - the walk-through steps back with N"; fails=$((fails + 1))
fi
check "activations screen runs a sample through the model" "relu1 channel 1/32 \(28x28\).*N:M 4:9, policy first" -- --frames 2 --screen activations fmnist_cnn
check "activations policy switch" "policy topk" -- --frames 3 --screen activations --keys P fmnist_cnn
check "activations on an ImageNet model use a synthetic input" "synthetic input" -- --frames 2 --screen activations resnet18
check "energy screen compares four systems" "nm-4:9-4:9 16x16" -- --frames 2 --screen energy fmnist_cnn
check "energy per layer follows ] to the next conv" "layer conv2 +\(\[ \] previous / next\)" -- --frames 3 --screen energy --keys "]" fmnist_cnn
check "energy table lists every simulated layer" "^ fc2 +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+" -- --frames 2 --screen energy fmnist_cnn
check "console evaluates expressions" "^ 36$" -- --frames 4 --screen console --keys "'x = #model,Enter,'x * 2,Enter" fmnist_cnn
check "console continues multi-line chunks" "^ multi18$" -- --frames 6 --screen console --keys "'x = #model,Enter,'if x then,Enter,'print('multi' .. x) end,Enter" fmnist_cnn
check "a Lua error shows a traceback and changes nothing" "boom" -- --frames 3 --screen console --keys "'error('boom'),Enter" fmnist_cnn
# undo brings back the declared N:M with the masks: no "2:4" on a dense
# conv2, and the header's settings are those before the step
check "pruning declares 2:4 on conv2" "^ +4 conv2 .* 2:4 " -- --frames 4 --keys p,Enter fmnist_cnn
check "undo clears the declared 2:4" "^ +4 conv2 +conv +32x32x3x3 +█" -- --frames 5 --keys p,Enter,u fmnist_cnn
check "undo restores the header's settings" "density 100\.0% *$" -- --frames 5 --keys p,Enter,u fmnist_cnn
check "redo brings back 2:4 and the settings" "density [0-9.]+% +\| 2:4 auto" -- --frames 6 --keys p,Enter,u,U fmnist_cnn
# the Mask screen names the groups the way the engine forms them
check "mask groups: 2:4 kernel groups restart at every 3x3 kernel" "conv2 +\[32 x 288\] +2:4 in each 3x3 kernel \(restarts every kernel\)" -- --frames 8 --keys p,Enter,Down,Down,Down,Enter fmnist_cnn
check "mask groups: in groups are strided by kh*kw" "2:4 along c_in \(a group's columns are 9 apart\)" -- --frames 12 --keys p,Down,Down,Down,Right,Right,Enter,Down,Down,Down,Enter fmnist_cnn
# model-wide methods say which layers they leave dense; the prune form
# takes typed numbers and is not cut at 80x24
check "model-wide N:M names the layers it skipped" "left dense: conv1 \(first conv\), fc2 \(classifier\)" -- --frames 3 --keys p,Enter fmnist_cnn
check "the prune form says what it will skip" "left dense: conv1 \(first conv\)" -- --frames 2 --keys p fmnist_cnn
check "the prune form takes typed numbers" "nm\.prune\.nm\(model, \{n=3, m=16\}\)" -- --frames 7 --keys p,Down,3,Down,1,6,Up fmnist_cnn
check "typed numbers are applied" "^ +4 conv2 .* 3:16 " -- --frames 9 --keys p,Down,3,Down,1,6,Up,Enter fmnist_cnn
FC=80 FL=24 check "the prune form's title is whole at 80x24" "Enter apply, Esc *$" -- --frames 2 --keys p fmnist_cnn
FC=80 FL=24 check "the JointNF preview is whole at 80x24" "rounds=3, group='in'\}\)" -- --frames 8 --keys p,Left,Left,Down,Down,Down,Right,Right fmnist_cnn
# / searches layer names (it used to be ignored and /conv4 switched to screen 4)
check "/conv4 selects conv4 on the Layers screen" "^> 11 conv4 " -- --frames 4 --keys "/,'conv4,Enter" fmnist_cnn
check "/conv4 stays on the Layers screen" "\[1 Layers\]" -- --frames 4 --keys "/,'conv4,Enter" fmnist_cnn
check "n goes to the next match" "^>  4 conv2 " -- --frames 5 --keys "/,'conv,Enter,n" fmnist_cnn
check "a search without a match says so" "/zzz: no layer name contains it" -- --frames 3 --keys "/,'zzz" fmnist_cnn
check "/ on the Mask screen follows the match" "conv3 +\[64 x 288\]" -- --frames 5 --keys "Enter,/,'conv3,Enter" fmnist_cnn
# a sort indicator on the sorted column
check "sort by name marks the layer column" "^ +# layer▲ " -- --frames 2 --keys s fmnist_cnn
check "sort by MACs marks the MACs column" " MACs▼ " -- --frames 4 --keys s,s,s fmnist_cnn
# console editing: Ctrl-W deletes a word, Ctrl-U to the line start
check "Ctrl-W deletes the word before the cursor" "^ 1$" -- --frames 4 --screen console --keys "'print(1) zzz,C-w,Enter" fmnist_cnn
check "Ctrl-U deletes to the start of the line" "^ 2$" -- --frames 10 --screen console --keys "'zzz print(2),Home,Right,Right,Right,Right,C-u,Enter" fmnist_cnn
# q asks before quitting with pruning nmlab has not saved; q again quits
# (the keys after it are then not handled: still screen 1), any other key stays
check "q with unsaved pruning asks" "Quit with the pruning not saved\?" -- --frames 4 --keys p,Enter,q fmnist_cnn
check "q again quits" "\[1 Layers\]" -- --frames 6 --keys p,Enter,q,q,2 fmnist_cnn
check "another key stays" "\[2 Mask\]" -- --frames 7 --keys p,Enter,q,Esc,2 fmnist_cnn
check "q without pruning quits at once" "\[1 Layers\]" -- --frames 6 --keys p,Enter,u,q,2 fmnist_cnn
check "help is generated from the keymap" "undo / redo the last mask change" -- --frames 2 --keys "?" fmnist_cnn
# at 80x24 the help scrolls and no entry is cut
FC=80 FL=24 check "help at 80x24 says it scrolls" "Keys 1-18 of [0-9]+: Up/Down" -- --frames 2 --keys "?" fmnist_cnn
FC=80 FL=24 check "help scrolls to the last entry" "^  :run FILE +console" -- --frames 3 --keys "?,End" fmnist_cnn
FC=80 FL=24 check "long help entries wrap instead of being cut" "^ {28}walk-through\)" -- --frames 3 --keys "?,End" fmnist_cnn
FC=80 FL=24 check "a scroll key keeps the help open" "Keys 2-19 of" -- --frames 3 --keys "?,Down" fmnist_cnn
COLUMNS=60 LINES=20 "$bin" --frames 1 fmnist_cnn | grep -q "too small: 60x20" && { echo "ok - too small at 60x20"; passes=$((passes+1)); } || { echo "not ok - too small at 60x20"; fails=$((fails+1)); }
check "a bad model file names the problem" "could not open" -- --frames 1 /nonexistent.safetensors
# a model that cannot be opened: no other model in its place, and the
# reason in a message box (not only on the Console)
check "an unknown name says why in a message box" "Could not open resnet19" -- --frames 1 resnet19
check "an unknown name suggests the zoo name" "did you mean resnet18\?" -- --frames 1 resnet19
check "the reason is on screen" "resnet19: No such file or directory" -- --frames 1 resnet19
head -c 2000 "$(dirname "$0")/../../examples/models/fmnist_cnn.safetensors" > "$XDG_CONFIG_HOME/trunc.safetensors"
check "a truncated file names the reason" "header claims [0-9]+ bytes" -- --frames 1 "$XDG_CONFIG_HOME/trunc.safetensors"
check "any key closes the message; no model is open" "No model loaded" -- --frames 2 --keys Esc resnet19
for args in "resnet19" "$XDG_CONFIG_HOME/trunc.safetensors" "--screen mask resnet19"; do
  # shellcheck disable=SC2086
  if COLUMNS=120 LINES=40 "$bin" --frames 2 --keys Esc $args 2>&1 | grep -q "fmnist_cnn"; then
    echo "not ok - no other model opens in place of $args"; fails=$((fails + 1))
  else
    echo "ok - no other model opens in place of $args"; passes=$((passes + 1))
  fi
done
# an ONNX file with symbolic H and W: the workbench asks for the size (a
# console line to edit), Enter loads it; --input gives it up front
sym="$XDG_CONFIG_HOME/sym.onnx"
"$bin" run "$(dirname "$0")/symbolic_onnx.lua" "$sym"
check "a symbolic input size is asked for" "needs its input size" -- --frames 1 "$sym"
check "the asked-for line loads the model" "symnet .* params" -- --frames 4 --keys Enter "$sym"
check "--input gives the size" "symnet .* params" -- --frames 1 --input 1x8x8 "$sym"
# two graph inputs, both symbolic (g scales the output): --input takes one
# size each in graph order; an empty entry leaves that input to the file
sym2="$XDG_CONFIG_HOME/sym2.onnx" fix2="$XDG_CONFIG_HOME/fix2.onnx"
"$bin" run "$(dirname "$0")/symbolic_onnx.lua" "$sym2" two
"$bin" run "$(dirname "$0")/symbolic_onnx.lua" "$fix2" two_fixed
check "--input sizes every graph input" "symnet2 .* params" -- --frames 1 --input 1x8x8,2x1x1 "$sym2"
check "--input sizing only the first names the second" "input 'g' \(graph input 1\)" -- --frames 1 --input 1x8x8 "$sym2"
check "an empty --input entry leaves the input to the file" "symnet2 .* params" -- --frames 1 --input ,2x1x1 "$fix2"
check "--summary takes several sizes too" "model symnet2: 4 layers, input 1x8x8" -- --summary --input 1x8x8,2x1x1 "$sym2"
# the Activations screen fills every graph input (input 0 with its sample,
# the others with N(0,1) from seed 1 + k): rg = relu(g) and rn = relu(-g)
# must have ReLU densities strictly between 0 and 100% that add up to 100%
act2="$XDG_CONFIG_HOME/act2.onnx"
"$bin" run "$(dirname "$0")/two_inputs_onnx.lua" "$act2"
check "activations name every input's data" "synthetic input N\(0,1\), seed 1; input 'g' N\(0,1\), seed 2" -- --frames 2 --keys 3 "$act2"
frame=$(COLUMNS=120 LINES=40 "$bin" --frames 2 --keys 3 "$act2" 2>&1)
dg=$(printf '%s\n' "$frame" | sed -nE 's/.* rg +([0-9.]+)% .*/\1/p')
dn=$(printf '%s\n' "$frame" | sed -nE 's/.* rn +([0-9.]+)% .*/\1/p')
if [ -n "$dg" ] && [ -n "$dn" ] && awk -v a="$dg" -v b="$dn" \
     'BEGIN { s = a + b; exit !(a > 0 && b > 0 && s > 99.85 && s < 100.15) }'; then
  echo "ok - a second graph input is filled (relu(g) $dg% + relu(-g) $dn% = 100%)"; passes=$((passes + 1))
else
  echo "not ok - a second graph input is filled: rg '$dg'%, rn '$dn'%"; fails=$((fails + 1))
fi
check "more --input sizes than graph inputs is an error" "--input gives 3 sizes but .*sym2.onnx has 2 graph input" -- --frames 1 --input 1x8x8,2x1x1,1x1x1 "$sym2"
if "$bin" --summary --input 1x8x8,2x1x1,1x1x1 "$sym2" 2>&1 | grep -q "input gives 3 sizes but .*has 2 graph input"; then
  echo "ok - --summary: more --input sizes than graph inputs"; passes=$((passes + 1))
else
  echo "not ok - --summary: more --input sizes than graph inputs"; fails=$((fails + 1))
fi
if "$bin" --summary --input 1x8x8,2x1 "$sym2" 2>&1 | grep -q "one per graph input like 3x224x224,16x1x1"; then
  echo "ok - a malformed --input entry is a usage error"; passes=$((passes + 1))
else
  echo "not ok - a malformed --input entry is a usage error"; fails=$((fails + 1))
fi
# the Array screen's per-layer report is kept across frames: pruning (from
# screen 1, after the report was built) must replace it
dense=$(COLUMNS=120 LINES=40 "$bin" --frames 2 --keys 4 2>&1 | grep -E ' conv2 +[^ ]+ +[0-9]+%')
pruned=$(COLUMNS=120 LINES=40 "$bin" --frames 6 --keys 4,1,p,Enter,4 2>&1 | grep -E ' conv2 +[^ ]+ +[0-9]+%')
if [ -n "$dense" ] && [ -n "$pruned" ] && [ "$dense" != "$pruned" ]; then
  echo "ok - array report follows pruning"; passes=$((passes + 1))
else
  echo "not ok - array report follows pruning: '$dense' vs '$pruned'"; fails=$((fails + 1))
fi
# `e` exports what the screen shows: the Activations export is not the
# Mask one, the Array export is the array on screen, titles name the model,
# and an older export is never overwritten (the next free name is used)
exp="$XDG_CONFIG_HOME/export"
mkdir -p "$exp"
ex() { (cd "$exp" && COLUMNS=120 LINES=40 "$bin" "$@" 2>&1 | tail -2 | head -1); }
echo keep > "$exp/nmlab-mask-fmnist_cnn-1.png"
s1=$(ex --frames 3 --screen mask --keys e fmnist_cnn)
s2=$(ex --frames 3 --screen activations --keys e fmnist_cnn)
s3=$(ex --frames 5 --screen array --keys r,c,e fmnist_cnn)
export_ok() { # NAME CONDITION...
  local name=$1; shift
  if "$@"; then echo "ok - $name"; passes=$((passes + 1)); else echo "not ok - $name ($s1 | $s2 | $s3)"; fails=$((fails + 1)); fi
}
export_ok "an export does not overwrite an older file" grep -qx keep "$exp/nmlab-mask-fmnist_cnn-1.png"
export_ok "the next free name is used" test -s "$exp/nmlab-mask-fmnist_cnn-2.png"
export_ok "the status names the file" grep -q "exported nmlab-mask-fmnist_cnn-2.png" <<<"$s1"
export_ok "the Activations export is not the Mask export" \
  bash -c "cd '$exp' && test -s nmlab-activations-fmnist_cnn-1.png && ! cmp -s \$(ls -t nmlab-mask-*.png | head -1) nmlab-activations-fmnist_cnn-1.png"
export_ok "the Activations export draws the channel" grep -aq "relu1 channel 1/32" "$exp/nmlab-activations-fmnist_cnn-1.png"
export_ok "the Array export is the array on screen" grep -aq "fmnist_cnn on nm-4:9-4:9 20x20" "$exp/nmlab-array-fmnist_cnn-1.png"
export_ok "the Mask export's title names the model" grep -aq "fmnist_cnn: conv1" "$exp/nmlab-mask-fmnist_cnn-2.png"
# batch mode leaves the user's settings and history alone (it used to save
# its own theme, array and an empty last model over them)
mkdir -p "$XDG_CONFIG_HOME/nmlab"
printf '# mine\ntheme = light\nlast_model = /my/model.onnx\narray_mac = pmac\n' > "$XDG_CONFIG_HOME/nmlab/settings.conf"
cp "$XDG_CONFIG_HOME/nmlab/settings.conf" "$XDG_CONFIG_HOME/settings.orig"
COLUMNS=120 LINES=40 "$bin" --frames 4 --screen array --keys t,r,m fmnist_cnn >/dev/null 2>&1
if cmp -s "$XDG_CONFIG_HOME/nmlab/settings.conf" "$XDG_CONFIG_HOME/settings.orig" && [ ! -e "$XDG_CONFIG_HOME/nmlab/history" ]; then
  echo "ok - --frames does not rewrite the settings file"; passes=$((passes + 1))
else
  echo "not ok - --frames does not rewrite the settings file:"; sed 's/^/#   /' "$XDG_CONFIG_HOME/nmlab/settings.conf"
  fails=$((fails + 1))
fi
rm -f "$XDG_CONFIG_HOME/nmlab/settings.conf"
# the function-key bar (htop's scheme) on the bottom line, from the keymap table
check "function-key bar on the bottom line" "^F1Help F2Setup F3Search .*F10Quit *$" -- --frames 1 fmnist_cnn
check "F1 opens the help" "^  F1 \? +all +help" -- --frames 2 --keys F1 fmnist_cnn
check "F1 opens the help from the console too" "^  F1 \? +all +help" -- --frames 2 --screen console --keys F1 fmnist_cnn
check "F3 searches layers by name" "^> +11 conv4 " -- --frames 8 --keys "F3,'conv4,Enter" fmnist_cnn
check "F2 opens the setup form" "Setup: Up/Down field.*Enter save" -- --frames 2 --keys F2 fmnist_cnn
check "setup's default N:M is the prune form's" "nm\.prune\.nm\(model, \{n=3, m=4\}\)" -- --frames 8 --keys F2,Down,Down,Right,Enter,p fmnist_cnn
check "setup's array rows reach the Array screen" "array=20x16 " -- --frames 9 --screen array --keys F2,Down,Down,Down,Down,Right,Enter fmnist_cnn
check "setup's MAC reaches the Array screen" "mac=pmac" -- --frames 12 --screen array --keys F2,Down,Down,Down,Down,Down,Down,Right,Right,Right,Enter fmnist_cnn
check "setup in batch mode leaves settings.conf alone" "settings\.conf untouched" -- --frames 4 --keys F2,Enter fmnist_cnn
if [ -e "$XDG_CONFIG_HOME/nmlab/settings.conf" ]; then
  echo "not ok - batch mode wrote settings.conf"; fails=$((fails + 1))
else
  echo "ok - batch mode wrote no settings.conf"; passes=$((passes + 1))
fi
# open and save from the workbench (o/F4, w/F5): a file prompt with Tab
# completion, errors in the message box, saving through model:save
fdir=$(mktemp -d); mkdir -p "$fdir/sub"; : > "$fdir/sub/alpha.safetensors"; : > "$fdir/sub/alpine.onnx"
inf() { (cd "$fdir" && COLUMNS=120 LINES=40 "$bin" "$@" 2>&1); }
o1=$(inf --frames 4 --keys "F4,'su,Tab" fmnist_cnn)
grep -q "Open model (file or zoo name)" <<<"$o1" && grep -qE "^ +sub/ *$" <<<"$o1" \
  && { echo "ok - F4 opens the file prompt and Tab completes a folder"; passes=$((passes + 1)); } \
  || { echo "not ok - F4 opens the file prompt and Tab completes a folder"; sed 's/^/#   /' <<<"$o1"; fails=$((fails + 1)); }
o2=$(inf --frames 4 --keys "o,'sub/al,Tab" fmnist_cnn)
grep -qE "^ +sub/alp *$" <<<"$o2" && grep -q "alpha.safetensors" <<<"$o2" && grep -q "alpine.onnx" <<<"$o2" \
  && { echo "ok - Tab completes the common part and lists the candidates"; passes=$((passes + 1)); } \
  || { echo "not ok - Tab completes the common part and lists the candidates"; sed 's/^/#   /' <<<"$o2"; fails=$((fails + 1)); }
o3=$(inf --frames 6 --keys "o,'sub/alph,Tab,Enter" fmnist_cnn)
grep -q "Could not open sub/alpha.safetensors" <<<"$o3" && grep -q "file is empty" <<<"$o3" && ! grep -q "stack traceback" <<<"$o3" \
  && { echo "ok - a file that cannot be opened is named in the message box with the reason"; passes=$((passes + 1)); } \
  || { echo "not ok - a file that cannot be opened is named in the message box"; sed 's/^/#   /' <<<"$o3"; fails=$((fails + 1)); }
o4=$(inf --frames 4 --keys "o,'resnet18,Enter" fmnist_cnn)
grep -q "^ resnet18 .* params" <<<"$o4" && { echo "ok - the prompt opens a zoo name"; passes=$((passes + 1)); } \
  || { echo "not ok - the prompt opens a zoo name"; sed 's/^/#   /' <<<"$o4"; fails=$((fails + 1)); }
o5=$(inf --frames 6 --keys "p,Enter,F5,C-u,'pruned.safetensors,Enter" fmnist_cnn)
o6=$(inf --frames 3 --keys "o,'pruned.safetensors,Enter" fmnist_cnn)
grep -q "saved pruned.safetensors" <<<"$o5" && grep -qE "^ +4 conv2 .* 2:4 " <<<"$o6" \
  && { echo "ok - F5 saves the pruned model and the prompt reopens it pruned"; passes=$((passes + 1)); } \
  || { echo "not ok - F5 saves the pruned model and it reopens pruned"; sed 's/^/#   /' <<<"$o5$o6"; fails=$((fails + 1)); }
o7=$(inf --frames 8 --keys "p,Enter,w,Enter,q" fmnist_cnn)
grep -q "Quit with the pruning" <<<"$o7" && { echo "not ok - q after saving still asks"; fails=$((fails + 1)); } \
  || { echo "ok - q after saving the pruning does not ask"; passes=$((passes + 1)); }
o8=$(inf --sandbox --frames 4 --keys "o,'/,Tab" fmnist_cnn)
o9=$(inf --frames 4 --keys "o,'/,Tab" fmnist_cnn)
grep -q "sandbox: only files under the working folder" <<<"$o8" && grep -q "etc/" <<<"$o9" && ! grep -q "etc/" <<<"$o8" \
  && { echo "ok - path completion respects --sandbox"; passes=$((passes + 1)); } \
  || { echo "not ok - path completion respects --sandbox"; sed 's/^/#   /' <<<"$o8"; fails=$((fails + 1)); }
o10=$(inf --sandbox --frames 6 --keys "w,C-u,'/tmp/nmlab-wb2-outside.safetensors,Enter" fmnist_cnn)
grep -q "Could not save to /tmp/nmlab-wb2-outside.safetensors" <<<"$o10" && grep -q "is outside the" <<<"$o10" \
  && [ ! -e /tmp/nmlab-wb2-outside.safetensors ] \
  && { echo "ok - saving outside the sandbox is refused in the message box"; passes=$((passes + 1)); } \
  || { echo "not ok - saving outside the sandbox is refused"; sed 's/^/#   /' <<<"$o10"; fails=$((fails + 1)); }
rm -rf "$fdir"
# console completion: methods after model: / layer:, fields after layer. /
# model., every candidate listed (wrapped, not cut at the width)
FC=100 FL=30 check "model: lists every method, wrapped" "model:set_activation +model:shrink +model:stats" -- --frames 3 --screen console --keys "'model:,Tab" fmnist_cnn
check "model:sa completes to model:save" "^ > model:save$" -- --frames 3 --screen console --keys "'model:sa,Tab" fmnist_cnn
check "layer: completes its method" "^ > layer:stats$" -- --frames 3 --screen console --keys "'layer:,Tab" fmnist_cnn
check "layer. lists its fields, not methods" "layer\.kind .*layer\.out_shape" -- --frames 3 --screen console --keys "'layer.,Tab" fmnist_cnn
check "model. lists its fields" "model\.input +model\.inputs +model\.macs +model\.name +model\.params" -- --frames 3 --screen console --keys "'model.,Tab" fmnist_cnn
check "nm.prune.n lists nffs and nm" "nm\.prune\.nffs +nm\.prune\.nm" -- --frames 3 --screen console --keys "'nm.prune.n,Tab" fmnist_cnn
# the nm-MAC walk-through counts from 1 and takes the user's N:M and data
check "walk-through rows count from 1" "^ +row 1: +3 +0 +1 +0" -- --frames 3 --screen array --keys T fmnist_cnn
check "walk-through weight columns count from 1" "value@column\): 2@2 -1@4" -- --frames 3 --screen array --keys T fmnist_cnn
check "walk-through multipliers and outputs count from 1" "multiplier 1: pick column 2 -> 2@2, x weight 2 = 4 -> out\[2\] = 4" -- --frames 4 --screen array --keys T,n fmnist_cnn
check "walk-through takes the form's N:M (setup's default)" "nm-MAC 3:4 data x 3:4 weights: 3 multipliers" -- --frames 9 --screen array --keys F2,Down,Down,Right,Enter,T fmnist_cnn
wdir=$(mktemp -d)
printf 'walk = {n = 1, m = 2, data = {{5, 0}, {0, 7}}, weights = {0, 3}}\n' > "$wdir/walk.lua"
check "walk-through takes the console's walk = {...}" "multiplier 1: pick column 2 -> 7@2, x weight 3 = 21 -> out\[2\] = 21" -- --tui "$wdir/walk.lua" --frames 4 --screen array --keys T,n fmnist_cnn
printf 'walk = {n = 1, m = 2, data = {1, 2}, weights = {0, 3}}\n' > "$wdir/bad.lua"
check "a malformed walk says what is wrong" "walk\.data: 4 integers in -128\.\.127" -- --tui "$wdir/bad.lua" --frames 3 --screen array --keys T fmnist_cnn
rm -rf "$wdir"
# legends: the Mask screen's glyphs and ruler marks, the Array heatmap's scale
check "the Mask screen has a legend" "legend: █ kept ░▒▓ partly · pruned ◆ cursor ✗ filter removed │ kernel/group" -- --frames 3 --keys Enter fmnist_cnn
check "the Array heatmap has a scale" "0% .{8} 100% busy" -- --frames 4 --screen array --keys n,n fmnist_cnn
# presentation mode (b, or F2 setup): marked in the header, PEs drawn 2 wide
FC=80 FL=24 check "b turns presentation mode on" "^ \[presentation\] fmnist_cnn" -- --frames 3 --screen array --keys b fmnist_cnn
FC=80 FL=24 check "presentation mode draws PEs 2 wide at 80x24" "^ (▫){32}" -- --frames 3 --screen array --keys b fmnist_cnn
FC=80 FL=24 check "b again turns it off" "^ (▫ ){15}▫" -- --frames 4 --screen array --keys b,b fmnist_cnn
check "setup turns presentation mode on" "^ \[presentation\] fmnist_cnn" -- --frames 12 --keys F2,Down,Down,Down,Down,Down,Down,Down,Right,Enter fmnist_cnn
check "/ types a division in the console (F3 searches there)" "^ 4\.0$" -- --frames 3 --screen console --keys "'8 / 2,Enter" fmnist_cnn
check "no model: the Layers screen points at o (F4), not the gone F6" "Press o \(F4\) to open a file or zoo name" -- --frames 3 --keys Space nmlab-no-such-model
# memory model (D) and roofline (R): the numbers on screen equal the Lua
# report of the same systems (nm-4-4 16x16 is the Array's default; the
# Energy screen's pMAC 32x32), 64 KB SRAMs, 10 words/cycle, DRAM counted
mem_lua='local o = {sram_kb = {ifmap = 64, filter = 64, ofmap = 64}, bandwidth = 10, dram = true}
local m = nm.zoo("fmnist_cnn")
o.mac = "nm"; o.rows = 16
local r = nm.sim.system(o):run(m)
for _, l in ipairs(r.layers) do
  io.write(string.format("ROOF %s %d %.1f %d %.0f %s\n", l.name, l.compute_cycles, l.roofline.memory,
    l.stall_cycles, l.dram_reads.ifmap + l.dram_reads.filter + l.dram_writes.ofmap,
    l.roofline.memory > l.compute_cycles and "memory" or "compute"))
end
io.write(string.format("TOTAL %d %d\n", r.total.compute_cycles, r.total.stall_cycles))
o.mac = "pmac"; o.rows = 32
local p = nm.sim.system(o):run(m)
io.write(string.format("PMAC %d %.4g\n", p.total.stall_cycles, p.total.energy.dram * 1e-6))'
expect=$("$bin" -e "$mem_lua" 2>&1)
roof=$(COLUMNS=120 LINES=40 "$bin" --frames 5 --screen array --keys D,R fmnist_cnn 2>&1)
n_ok=0 n_rows=0
while read -r tag name cc mem st words bound; do
  [ "$tag" = ROOF ] || continue
  n_rows=$((n_rows + 1))
  pat="^ $name +$cc +$mem +$st +$words +[0-9.]+ +[0-9.]+ +$bound\$"
  printf '%s\n' "$roof" | grep -qE -- "$pat" && n_ok=$((n_ok + 1))
done <<< "$expect"
if [ "$n_rows" -ge 6 ] && [ "$n_ok" -eq "$n_rows" ]; then
  echo "ok - roofline rows equal the Lua report ($n_rows layers)"; passes=$((passes + 1))
else
  echo "not ok - roofline rows: $n_ok of $n_rows equal the Lua report"; printf '%s\n' "$expect" "$roof" | sed 's/^/#   /'
  fails=$((fails + 1))
fi
read -r _ tcc tst <<< "$(printf '%s\n' "$expect" | grep '^TOTAL')"
check "roofline total: compute and stall cycles" "^ total +$tcc +[0-9.]+ +$tst .* of 6 memory-bound" -- --frames 5 --screen array --keys D,R fmnist_cnn
check "the whole switch line, not cut at 160 characters" "mem=ifmap64KB,filter64KB,ofmap64KB,double,word1B,bw=10" -- --frames 5 --screen array --keys D,R fmnist_cnn
check "roofline with the memory model off says how to turn it on" "memory: off +\(D turns the memory model on\)" -- --frames 4 --screen array --keys R fmnist_cnn
read -r _ _ cc1 _ st1 _ _ <<< "$(printf '%s\n' "$expect" | grep '^ROOF conv1 ')"
check "Array note: this layer's compute + stall" "this layer: util [0-9]+%, $((cc1 + st1)) cycles = $cc1 compute \+ $st1 stall, DRAM" -- --frames 4 --screen array --keys D fmnist_cnn
check "Array per-layer list: stall and DRAM uJ columns, and a total" "layer +util +cycles +stall +DRAM uJ" -- --frames 4 --screen array --keys D fmnist_cnn
check "Array per-layer total row" "total +[0-9.]+ [kM]? *[0-9.]+ [kM]? *[0-9.]+$" -- --frames 4 --screen array --keys D fmnist_cnn
check "D again: 2 words per cycle" "memory: 64 KB SRAMs, 2 words/cycle" -- --frames 6 --screen array --keys D,D,R fmnist_cnn
check "D a third time: off, the plain list" "layer +util +mult +cycles" -- --frames 5 --screen array --keys D,D,D fmnist_cnn
read -r _ pst pdram <<< "$(printf '%s\n' "$expect" | grep '^PMAC')"
check "Energy: the pMAC's stall cycles and DRAM energy in the totals" "1\.00x the energy of pmac 32x32 .* stall .* cyc \($pst\) +DRAM $pdram uJ" -- --frames 3 --screen energy --keys D fmnist_cnn
check "Energy: per layer stall beside the energy" "layer \(uJ, stall\)" -- --frames 3 --screen energy --keys D fmnist_cnn
read -r _ _ _ _ st2 _ _ <<< "$(printf '%s\n' "$expect" | grep '^ROOF conv2 ')"
check "Energy: the selected layer's DRAM and stall" "nm-4:9-4:9 16x16 .* uJ \(DRAM [0-9.]+\) .* cyc stall $st2\$" -- --frames 4 --screen energy --keys "D,]" fmnist_cnn
# The same figures at 80x24 (many users' terminals, projectors): the
# columns that fit, every number whole (rows are matched to their end),
# and a line naming the columns left out.
roof80=$(COLUMNS=80 LINES=24 "$bin" --frames 5 --screen array --keys D,R fmnist_cnn 2>&1)
n_ok=0 n_rows=0
while read -r tag name cc mem st words bound; do
  [ "$tag" = ROOF ] || continue
  n_rows=$((n_rows + 1))
  pat="^ $name +$cc +$mem +$st +$words +[0-9.]+ +[0-9.]+ +$bound\$"
  printf '%s\n' "$roof80" | grep -qE -- "$pat" && n_ok=$((n_ok + 1))
done <<< "$expect"
if [ "$n_rows" -ge 6 ] && [ "$n_ok" -eq "$n_rows" ]; then
  echo "ok - roofline rows at 80x24 equal the Lua report ($n_rows layers)"; passes=$((passes + 1))
else
  echo "not ok - roofline rows at 80x24: $n_ok of $n_rows equal the Lua report"; printf '%s\n' "$expect" "$roof80" | sed 's/^/#   /'
  fails=$((fails + 1))
fi
FC=80 FL=24 check "roofline total at 80x24: the bound in short" "^ total +$tcc +[0-9.]+ +$tst +[0-9]+ +[0-9.]+ +[0-9.]+ +6/6 memory$" -- --frames 5 --screen array --keys D,R fmnist_cnn
# ResNet-18's figures are wider: a column goes, whole, and the last line says which
FC=80 FL=24 check "roofline at 80x24 names what it leaves out" "^ not shown at this width: DRAM words \(a wider terminal shows them\)$" -- --frames 5 --screen array --keys D,R resnet18
FC=80 FL=24 check "roofline at 80x24: ResNet-18 rows whole" "^ layer2\.0\.conv1 +[0-9]+ +[0-9]+\.[0-9] +[0-9]+ +[0-9]+\.[0-9]{2} +[0-9]+\.[0-9]{4} +memory$" -- --frames 5 --screen array --keys D,R resnet18
FC=80 FL=24 check "Array list at 80x24: every column" "layer +util +cycles +stall +DRAM uJ$" -- --frames 4 --screen array --keys D fmnist_cnn
# conv1's stall (under 1000 cycles, printed whole) and its DRAM energy, at the end of the line
FC=80 FL=24 check "Array list at 80x24: conv1's stall and DRAM" " conv1 .* [0-9]+% +[0-9.]+ [kM]? +$st1 +[0-9]+\.[0-9]{3}$" -- --frames 4 --screen array --keys D fmnist_cnn
FC=80 FL=24 check "Array list at 80x24: the total row" " total +[0-9.]+ [kM]? +[0-9.]+ [kM]? +[0-9]+\.[0-9]{3}$" -- --frames 4 --screen array --keys D fmnist_cnn
# a 16x128 array: the grid clipped, the legend short and a space before the right side
FC=80 FL=24 check "Array at 80x24: legend apart from the heatmap's title" "^ ■ busy · idle ▫ load 0/2048 +PE utilization so far$" -- --frames 8 --screen array --keys D,c,c,c,c fmnist_cnn
FC=80 FL=24 check "Array note at 80x24 ends on a whole word" "stall, DRAM [0-9.]+ uJ…$" -- --frames 4 --screen array --keys D fmnist_cnn
FC=80 FL=24 check "Energy at 80x24: the pMAC's stall and DRAM" "^ +1\.00x +[0-9.]+ mm2 +stall [0-9.]+ [kM] ?cyc +DRAM $pdram uJ$" -- --frames 3 --screen energy --keys D fmnist_cnn
FC=80 FL=24 check "Energy at 80x24: system names whole" "^ nm-6:9-4:9 15x15 +[#=%@*+o~x&$]+ +[0-9.]+ mJ [0-9.]+ [kM]? ?cyc$" -- --frames 3 --screen energy --keys D fmnist_cnn
FC=80 FL=24 check "Energy at 80x24: per layer uJ and stall of four systems" "^ conv1( +[0-9]+\.[0-9]{3} +[0-9.]+( [kM])?){4}$" -- --frames 3 --screen energy --keys D fmnist_cnn
FC=80 FL=24 check "Energy at 80x24: the stall column's header" "^ layer \(uJ, stall\) +pmac 32x32 " -- --frames 3 --screen energy --keys D fmnist_cnn
echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
