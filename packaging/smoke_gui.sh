#!/usr/bin/env bash
# Start the packaged app in a virtual X display (Xvfb) and wait until its main window, titled
# "CNN Studio", appears; print the seconds from start to window; then end the app.
#   packaging/smoke_gui.sh [EXECUTABLE] [RUNS]      (default: dist/CNNStudio/cnnstudio, 1 run)
# With RUNS > 1 it prints each time and the median. Exit status 0 only when every start found the
# window within WAIT_S seconds (default 120). When Xvfb or xdotool is missing it prints the apt-get
# command and runs it (with sudo when not root); with SMOKE_NO_INSTALL=1 it prints it and exits 2.
set -euo pipefail
exe=${1:-dist/CNNStudio/cnnstudio}
runs=${2:-1}
wait_s=${WAIT_S:-120}
title="CNN Studio"

[[ -x $exe ]] || { echo "smoke_gui: $exe is not an executable; run make package first" >&2; exit 2; }
exe=$(cd "$(dirname "$exe")" && pwd)/$(basename "$exe")

if ! command -v xvfb-run >/dev/null || ! command -v xdotool >/dev/null; then
  sudo=""; [[ $(id -u) == 0 ]] || sudo="sudo"
  pkgs="xvfb xauth xdotool libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxkbcommon-x11-0 libegl1 libgl1 libfontconfig1 libdbus-1-3"
  install="$sudo apt-get update -q && $sudo apt-get install -y -q $pkgs"
  if [[ ${SMOKE_NO_INSTALL:-0} == 1 ]]; then
    echo "smoke_gui: Xvfb or xdotool is missing. Install them with:" >&2
    echo "  $install" >&2
    exit 2
  fi
  # Never change the system silently: say what is installed and how (SMOKE_NO_INSTALL=1 refuses instead).
  echo "smoke_gui: Xvfb or xdotool is missing; installing them now with:" >&2
  echo "  $install" >&2
  log=$(mktemp)
  if ! (bash -c "$install") >"$log" 2>&1; then
    tail -n 20 "$log" >&2; rm -f "$log"
    echo "smoke_gui: could not install Xvfb and xdotool; run the command above yourself, then retry" >&2
    exit 2
  fi
  rm -f "$log"
fi

# A throw-away home for the app: no last project to reopen, no settings or data left behind.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

times=()
for run in $(seq "$runs"); do
  log="$scratch/app-$run.log"
  # The inner script runs inside the virtual display; it prints the seconds or fails.
  seconds=$(
    HOME="$scratch/home" XDG_CONFIG_HOME="$scratch/config" CNNSTUDIO_DATA_DIR="$scratch/data" \
    QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1400x900x24" bash -c '
      exe=$1 title=$2 wait_s=$3 log=$4
      start=$(date +%s%N)
      "$exe" >"$log" 2>&1 & app=$!
      found=""
      while :; do
        if xdotool search --onlyvisible --name "$title" >/dev/null 2>&1; then found=1; break; fi
        kill -0 $app 2>/dev/null || break
        (( ($(date +%s%N) - start) / 1000000000 < wait_s )) || break
        sleep 0.1
      done
      elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
      kill $app 2>/dev/null; wait $app 2>/dev/null
      [[ -n $found ]] || exit 1
      printf "%d.%03d\n" $((elapsed_ms / 1000)) $((elapsed_ms % 1000))
    ' _ "$exe" "$title" "$wait_s" "$log"
  ) || {
    echo "smoke_gui: no window titled \"$title\" within ${wait_s}s (run $run); the app printed:" >&2
    tail -n 30 "$log" >&2 || true
    exit 1
  }
  seconds=$(printf '%.2f' "$seconds")
  times+=("$seconds")
  echo "smoke_gui: run $run: main window after $seconds s"
done

median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}')
echo "smoke_gui: OK, start to window: median $median s over $runs run(s) (${times[*]})"
