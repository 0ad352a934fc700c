#!/usr/bin/env bash
# Check a built executable (make package-test): the headless self-test must pass and print its OK
# line, then the GUI must start in a virtual display and show its main window.
#   packaging/package_test.sh [EXECUTABLE]      (default: dist/CNNStudio/cnnstudio)
set -euo pipefail
cd "$(dirname "$0")/.."
exe=${1:-dist/CNNStudio/cnnstudio}
[[ -x $exe ]] || { echo "package_test: $exe is not an executable; run make package first" >&2; exit 2; }

log=$(mktemp)
trap 'rm -f "$log"' EXIT
start=$(date +%s%N)
if ! "$exe" --selftest 2>&1 | tee "$log"; then
  echo "package_test: $exe --selftest failed" >&2
  exit 1
fi
grep -q "^selftest OK" "$log" || { echo "package_test: the self-test did not print its OK line" >&2; exit 1; }
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
printf 'package_test: --selftest passed in %d.%01d s (wall, from start of the executable)\n' \
  $((elapsed_ms / 1000)) $((elapsed_ms % 1000 / 100))

packaging/smoke_gui.sh "$exe" "${RUNS:-1}"
du -sh "$(dirname "$exe")" | awk '{print "package_test: bundle size " $1}'
echo "package_test: OK"
