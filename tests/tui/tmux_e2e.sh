#!/usr/bin/env bash
# End-to-end test of the workbench in a real terminal: nmlab runs in a tmux
# session of fixed size; keys are sent with send-keys and the screen is read
# with capture-pane, polling until the expected text shows or a timeout
# passes (fzf's test approach). Usage: tmux_e2e.sh NMLAB_BINARY
set -u
bin=$1
sock="nmlab-e2e-$$"
T=(tmux -L "$sock" -f /dev/null)
cfg=$(mktemp -d)
fails=0 passes=0
cleanup() { "${T[@]}" kill-server >/dev/null 2>&1; rm -rf "$cfg"; }
trap cleanup EXIT

screen() { "${T[@]}" capture-pane -p -t main 2>/dev/null; }
keys() { "${T[@]}" send-keys -t main "$@"; }

# expect NAME PATTERN [SECONDS [COUNT]]: waits until COUNT (default 1)
# lines of the pane match (grep -E).
expect() {
  local name=$1 pat=$2 limit=${3:-15} count=${4:-1} t=0
  while [ "$t" -lt $((limit * 10)) ]; do
    if [ "$(screen | grep -cE -- "$pat")" -ge "$count" ]; then
      echo "ok - $name"; passes=$((passes + 1)); return 0
    fi
    sleep 0.1; t=$((t + 1))
  done
  echo "not ok - $name: /$pat/ not on screen ($count times) after ${limit}s; screen was:"
  screen | sed 's/^/#   /'
  fails=$((fails + 1)); return 1
}

"${T[@]}" new-session -d -s main -x 120 -y 40 \
  "env XDG_CONFIG_HOME=$cfg TERM=xterm-256color LANG=C.UTF-8 $bin resnet18; echo NMLAB-EXITED=\$?; sleep 30"

expect "starts on the layers screen" "\[1 Layers\]" 30
expect "shows the default model's layers" "conv1"
keys p
expect "prune form opens" "Prune"
keys Enter
expect "N:M 2:4 prunes the layers (3x3 kernels keep 5 of 9)" "2:4 +[^ ]+ +55\.6%" 30
expect "1x1 convs keep exactly half" "2:4 +[^ ]+ +50\.0%"
keys u
expect "undo restores density" "undone"
expect "dense again after undo" "density 100\.0%"
keys 2
expect "mask screen shows the cursor value (1-based)" "w\[1, 1\]"
keys 4
expect "array screen shows cycles" "cycle [0-9]+ / [0-9]+"
keys n n n
expect "stepping advances the cycle" "cycle 3 / "
# r and c step the array on every press (the second press used to change
# nothing), m then goes to the next MAC (it used to jump to bmac)
keys r r c
expect "r r c steps the array to 32x20" "array=32x20 "
keys m
expect "m goes from nm-4-4 to nm-6-4" "mac=nm-6:9-4:9 array=32x20 "
# the mouse (SGR reports, as xterm sends them): a layer row of the Energy
# table selects that layer; a tab in the header switches screens
click() { keys -l $'\e[<0;'"$1;$2M"; keys -l $'\e[<0;'"$1;$2m"; }
keys 5
expect "energy screen lists the layers" "^ layer1\.0\.conv2 +[0-9.]+"
row=$(screen | grep -n '^ layer1\.0\.conv2 ' | head -1 | cut -d: -f1)
click 5 "${row:-1}"
expect "a click on a layer row selects it" "layer layer1\.0\.conv2 +\(\[ \]"
click 10 1
expect "a click on a tab switches screens" "\[1 Layers\]"
keys 6
expect "console screen" "\[6 Console\]"
keys -l 'print(6*7)'
keys Enter
expect "console evaluates Lua" "^ *42 *$"
keys -l 'while true do end'
keys Enter
# Ctrl-C is a signal, which overtakes keys still unread: wait until it runs
expect "the runaway loop runs" "running"
keys C-c
expect "Ctrl-C cancels a runaway script" "cancelled" 20
keys -l "print('still' .. 'alive')"
keys Enter
expect "workbench still responsive" "stillalive"
# keys typed ahead during a long C operation (no pump there) and then
# Ctrl-C: the operation is cancelled and the typed line still runs after
keys -l 'big = nm.zoo("vgg16")'
keys Enter
# (the status line of a running operation shows its progress label, here
# "weights", and "Ctrl-C cancels")
expect "a long operation runs" "Ctrl-C cancels"
keys -l "print('typed' .. 'ahead')"
keys Enter
keys C-c
expect "Ctrl-C cancels the long operation" "cancelled by Ctrl-C" 30 2
expect "keys typed before Ctrl-C are kept" "typedahead" 30
# and the terminal itself must not drop unread keys on Ctrl-C (noflsh)
tty=$("${T[@]}" display-message -p -t main '#{pane_tty}')
if stty -F "$tty" -a 2>/dev/null | grep -qE '(^| )noflsh( |$)'; then
  echo "ok - the terminal keeps unread keys on Ctrl-C (noflsh)"; passes=$((passes + 1))
else
  echo "not ok - the terminal keeps unread keys on Ctrl-C (noflsh): $(stty -F "$tty" -a 2>&1 | grep -o -- '-\?noflsh')"
  fails=$((fails + 1))
fi
keys -l 'error("boom")'
keys Enter
expect "a Lua error shows in the console" "boom"
"${T[@]}" resize-window -t main -x 60 -y 20
expect "too-small screen below 80x24" "too small"
"${T[@]}" resize-window -t main -x 120 -y 40
expect "back to normal after resize" "\[6 Console\]"
expect "the function-key bar is on the bottom line" "^F1Help F2Setup F3Search .*F10Quit"
keys F1
expect "F1 opens the help, also from the console" "F1 \\? +all +help"
keys Escape
# F2 setup: the default N 2 -> 3, saved to settings.conf at once
keys F2
expect "F2 opens the setup form" "Setup: Up/Down field"
keys Down Down Right Enter
expect "Enter saves the setup" "setup saved to .*settings\\.conf"
grep -qx "default_nm = 3:4" "$cfg/nmlab/settings.conf" && { echo "ok - setup wrote default_nm before quitting"; passes=$((passes + 1)); } \
  || { echo "not ok - setup wrote default_nm before quitting"; fails=$((fails + 1)); }
keys Escape
keys q
expect "q quits cleanly" "NMLAB-EXITED=0"
if [ -f "$cfg/nmlab/settings.conf" ] && [ -f "$cfg/nmlab/history" ] && grep -q "print(6\*7)" "$cfg/nmlab/history"; then
  echo "ok - settings and history saved"; passes=$((passes + 1))
else
  echo "not ok - settings and history saved"; fails=$((fails + 1))
fi
if grep -qx "array_mac = nm-6-4" "$cfg/nmlab/settings.conf" && grep -qx "array_rows = 32" "$cfg/nmlab/settings.conf" \
   && grep -qx "array_cols = 20" "$cfg/nmlab/settings.conf" && grep -qx "last_model = resnet18" "$cfg/nmlab/settings.conf"; then
  echo "ok - the array and the last model are saved"; passes=$((passes + 1))
else
  echo "not ok - the array and the last model are saved:"; sed 's/^/#   /' "$cfg/nmlab/settings.conf"
  fails=$((fails + 1))
fi
# started again without a model, the last one opens, with the saved array
"${T[@]}" kill-session -t main
"${T[@]}" new-session -d -s main -x 120 -y 40 \
  "env XDG_CONFIG_HOME=$cfg TERM=xterm-256color LANG=C.UTF-8 $bin; echo NMLAB-EXITED=\$?; sleep 30"
expect "the last model is reopened" "^ resnet18 .* params" 30
expect "the status says it was reopened" "reopened resnet18, the last model"
keys 4
expect "the saved array configuration is used" "mac=nm-6:9-4:9 array=32x20 "
keys q
expect "q quits the second session" "NMLAB-EXITED=0"
# a last model that is gone: the default opens and the status says why
sed -i 's|^last_model = .*|last_model = /nonexistent/gone.safetensors|' "$cfg/nmlab/settings.conf"
"${T[@]}" kill-session -t main
"${T[@]}" new-session -d -s main -x 120 -y 40 \
  "env XDG_CONFIG_HOME=$cfg TERM=xterm-256color LANG=C.UTF-8 $bin; echo NMLAB-EXITED=\$?; sleep 30"
expect "a last model that is gone says so" "could not reopen the last model /nonexistent/gone.safetensors" 30
expect "and the default opens" "^ fmnist_cnn .* params"
keys q
expect "q quits the third session" "NMLAB-EXITED=0"
echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
