#!/usr/bin/env bash
# Runs every test of SelfTune Admin: unit, integration and bUnit (SelfTune.Admin.Tests) and the browser
# journeys (SelfTune.Admin.E2E, Playwright driving Debian's Chromium). Installs what it needs first.
# Ends with one line "N passed, N failed" and exits non-zero when a test failed.
set -uo pipefail
cd "$(dirname "$0")"

if ! command -v dotnet >/dev/null 2>&1; then
  echo "The .NET 10 SDK is required (dotnet on PATH)." >&2
  exit 2
fi

# Playwright's own browser download cannot work without internet; the tests use Debian's Chromium.
if [ ! -x /usr/bin/chromium ]; then
  echo "Installing Chromium for the browser tests..."
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null \
    || { echo "Could not install chromium (apt-get install chromium)." >&2; exit 2; }
fi

results="$(pwd)/TestResults"
rm -rf "$results"
dotnet build SelfTune.Admin.sln -nologo -v quiet -warnaserror || { echo "0 passed, 1 failed"; exit 1; }

status=0
for project in SelfTune.Admin.Tests SelfTune.Admin.E2E; do
  # Benchmarks print figures and take time; they have their own command (README).
  dotnet test "$project" --no-build -nologo --filter "Category!=Benchmark" \
    --logger "trx;LogFileName=$project.trx" --results-directory "$results" || status=1
done

passed=0; failed=0
for trx in "$results"/*.trx; do
  [ -f "$trx" ] || continue
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -1)
  p=$(echo "$counters" | sed -n 's/.* passed="\([0-9]*\)".*/\1/p'); f=$(echo "$counters" | sed -n 's/.* failed="\([0-9]*\)".*/\1/p')
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
done
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi # a run that crashed before reporting
echo "Screenshots: SelfTune.Admin.E2E/bin/Debug/net10.0/screenshots/"
echo "$passed passed, $failed failed"
exit $status
