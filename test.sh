#!/usr/bin/env bash
# Runs every test of SelfTune Admin: unit, integration and bUnit (SelfTune.Admin.Tests, on SQLite and again on
# PostgreSQL) and the browser journeys (SelfTune.Admin.E2E, Playwright driving Debian's Chromium). Installs what it
# needs first (Chromium, PostgreSQL 15, Azurite).
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

# The integration tests run a second time on PostgreSQL 15 (Debian's package, no Docker): a throwaway cluster in a
# temporary folder, on loopback, on a free port, stopped at exit (.ci/postgres.sh, shared with bench.sh). Each test app
# makes and drops its own database in it.
source .ci/postgres.sh
install_postgres || exit 2
stop_servers() { stop_postgres; stop_azurite; }
stop_azurite() { :; }
trap stop_servers EXIT
start_postgres || { echo "0 passed, 1 failed"; exit 1; }

# --- Azurite: the Azure Blob Storage emulator for the archive tests on object storage (issue 11) ---------------------
# Installed from npm when missing; started once for the run on a free loopback port (Azurite picks it and says which)
# in a temporary folder; stopped at the end. The tests find it through SELFTUNE_TEST_AZURITE (without it they start
# their own azurite-blob).
if ! command -v azurite-blob >/dev/null 2>&1; then
  echo "Installing Azurite for the archive tests on Azure Blob Storage..."
  command -v npm >/dev/null 2>&1 || { echo "Azurite is installed with npm, which is missing (apt-get install npm)." >&2; exit 2; }
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO npm install -g --no-audit --no-fund azurite >/dev/null \
    || { echo "Could not install Azurite (npm install -g azurite)." >&2; exit 2; }
fi
azurite_dir="$(mktemp -d)"
azurite-blob --blobHost 127.0.0.1 --blobPort 0 --location "$azurite_dir/data" \
  --skipApiVersionCheck --loose --silent --disableTelemetry >"$azurite_dir/azurite.log" 2>&1 &
azurite_pid=$!
stop_azurite() { kill "$azurite_pid" 2>/dev/null; wait "$azurite_pid" 2>/dev/null; rm -rf "$azurite_dir"; }
azurite_port=""
for _ in $(seq 1 240); do # Node starts in seconds; up to two minutes on a loaded machine
  azurite_port=$(sed -n 's|.*listens on http://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$azurite_dir/azurite.log" | head -1)
  [ -n "$azurite_port" ] && break
  kill -0 "$azurite_pid" 2>/dev/null || break
  sleep 0.5
done
if [ -z "$azurite_port" ]; then
  echo "Azurite did not start:" >&2; cat "$azurite_dir/azurite.log" >&2; exit 2
fi
# Azurite's one well-known development account (documented by Microsoft, not a secret).
export SELFTUNE_TEST_AZURITE="DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint=http://127.0.0.1:$azurite_port/devstoreaccount1;"
echo "Azurite listens on 127.0.0.1:$azurite_port."
# --- end of the Azurite block ------------------------------------------------------------------------------------------

results="$(pwd)/TestResults"
rm -rf "$results"
dotnet build SelfTune.Admin.sln -nologo -v quiet -warnaserror || { echo "0 passed, 1 failed"; exit 1; }

status=0
for project in SelfTune.Admin.Tests SelfTune.Admin.E2E; do
  # The browser journeys run on SQLite except the two-instance one (TwoInstanceJourneyTests), which needs PostgreSQL and
  # finds it through these variables.
  db_vars=()
  [ "$project" = SelfTune.Admin.E2E ] && db_vars=(SELFTUNE_TEST_DATABASE=postgres "SELFTUNE_TEST_POSTGRES=Host=127.0.0.1;Port=$pg_port;Username=postgres")
  # Benchmarks print figures and take time; they have their own command (README).
  env "${db_vars[@]}" dotnet test "$project" --no-build -nologo --filter "Category!=Benchmark" \
    --logger "trx;LogFileName=$project.trx" --results-directory "$results" || status=1
done
# The same integration suite on PostgreSQL. The tests that start the app as a child process (CrashRecoveryTests,
# HostileSkillMdProcessTests) stay on SQLite: they test the process, not the database, and are the slowest.
SELFTUNE_TEST_DATABASE=postgres SELFTUNE_TEST_POSTGRES="Host=127.0.0.1;Port=$pg_port;Username=postgres" \
  dotnet test SelfTune.Admin.Tests --no-build -nologo \
    --filter "Category!=Benchmark&FullyQualifiedName!~CrashRecoveryTests&FullyQualifiedName!~HostileSkillMdProcessTests" \
    --logger "trx;LogFileName=SelfTune.Admin.Tests.Postgres.trx" --results-directory "$results" || status=1

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
