#!/usr/bin/env bash
# Runs the test suites with the built artifacts wired in and ends with one line summing every test
# run: "N passed, N failed, N skipped" (from the TRX files, one per test project). Exits non-zero
# when anything failed, when dotnet test itself failed (build error, crashed test host) or when no
# test ran at all.
#
# Usage: scripts/run-tests.sh [TARGET]      TARGET: a .sln or test project, default Spinbox.sln
# Environment read: SPINBOX_SHIM_DIR, SPINBOX_CONFIG, SPINBOX_KERNEL_DIR (the Makefile sets them).
# The summary line is also written to out/test-summary.txt.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${1:-Spinbox.sln}
RESULTS=$ROOT/out/test-results
SUMMARY=$ROOT/out/test-summary.txt

rm -rf "$RESULTS"; mkdir -p "$RESULTS"; rm -f "$SUMMARY"
cd "$ROOT"
# Build once, then run the test projects one after another (-m:1): several of them boot VMs under TCG,
# and running them side by side on 2 cores only makes each slower and flakier.
dotnet build "$TARGET" -c Release --nologo -v quiet </dev/null
rc=$?
if [ "$rc" -eq 0 ]; then
  dotnet test "$TARGET" -c Release --no-build -m:1 --nologo --logger "trx;LogFilePrefix=run" --logger "console;verbosity=normal" \
    --results-directory "$RESULTS" </dev/null
  rc=$?
fi

# Each TRX has one <Counters total=".." executed=".." passed=".." failed=".." error=".." timeout=".." aborted=".." .../>.
counter() { grep -o "<Counters [^>]*" "$1" | grep -o " $2=\"[0-9]*\"" | grep -o '[0-9]*' || echo 0; }
total=0 passed=0 failed=0 files=0
for trx in "$RESULTS"/*.trx; do
  [ -f "$trx" ] || continue
  files=$((files + 1))
  t=$(counter "$trx" total); p=$(counter "$trx" passed)
  f=$(( $(counter "$trx" failed) + $(counter "$trx" error) + $(counter "$trx" timeout) + $(counter "$trx" aborted) ))
  total=$((total + t)); passed=$((passed + p)); failed=$((failed + f))
done
skipped=$((total - passed - failed))   # xunit's skipped tests are the TRX's not-executed ones

status=0
if [ "$rc" -ne 0 ]; then echo "run-tests: dotnet test exited $rc (failed tests, a build error or a crashed test host)" >&2; status=1; fi
if [ "$failed" -gt 0 ]; then status=1; fi
if [ "$files" -eq 0 ] || [ $((passed + failed)) -eq 0 ]; then
  echo "run-tests: no test ran ($files result files)" >&2; status=1
fi
line="$passed passed, $failed failed, $skipped skipped"
echo "$line" > "$SUMMARY"
echo "$line"
exit $status
