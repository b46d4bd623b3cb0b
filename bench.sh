#!/usr/bin/env bash
# The benchmark command (issue 12; README "Benchmarks"): builds Release, runs the tests of Category=Benchmark and prints
# their figures as one table (figure | value | floor | ratio | target), each floor measured in the same run, with the
# machine and its load before and after.
#   ./bench.sh            on SQLite
#   ./bench.sh postgres   on a throwaway PostgreSQL 15 cluster (.ci/postgres.sh; or SELFTUNE_BENCH_DATABASE=postgres)
# Extra arguments after the provider narrow the run, e.g. ./bench.sh sqlite --filter "FullyQualifiedName~IngestBenchmarks".
set -uo pipefail
cd "$(dirname "$0")"

database="${SELFTUNE_BENCH_DATABASE:-sqlite}"
case "${1:-}" in
  postgres|sqlite) database="$1"; shift ;;
esac
filter="Category=Benchmark"
if [ "${1:-}" = "--filter" ] && [ -n "${2:-}" ]; then filter="Category=Benchmark&($2)"; shift 2; fi

if ! command -v dotnet >/dev/null 2>&1; then
  echo "The .NET 10 SDK is required (dotnet on PATH)." >&2
  exit 2
fi

table=$(mktemp /tmp/selftune-bench.XXXXXX)
cleanup() { rm -f "$table" "$table.details"; }
if [ "$database" = "postgres" ]; then
  source .ci/postgres.sh
  install_postgres || exit 2
  cleanup() { rm -f "$table" "$table.details"; stop_postgres; }
  trap cleanup EXIT
  start_postgres || exit 1
  export SELFTUNE_TEST_DATABASE=postgres SELFTUNE_TEST_POSTGRES="Host=127.0.0.1;Port=$pg_port;Username=postgres"
else
  trap cleanup EXIT
fi

dotnet build SelfTune.Admin.Tests -c Release -nologo -v quiet || exit 1

# The app runs inside the test host here, whose runtime settings are a test project's: workstation GC. The app's own
# (SelfTune.Admin.runtimeconfig.json, from the Web SDK) say server GC, so the benchmark runs with that, as production does.
export DOTNET_gcServer=1

load_before=$(uptime)
SELFTUNE_BENCH_TABLE="$table" dotnet test SelfTune.Admin.Tests -c Release --no-build -nologo --filter "$filter" \
  --logger "console;verbosity=normal" >"$table.log" 2>&1
status=$?
load_after=$(uptime)
[ "$status" -eq 0 ] || { echo "The benchmarks failed:" >&2; grep -E "Failed |Error Message|Assert" -A4 "$table.log" >&2; }
[ "$status" -eq 0 ] && rm -f "$table.log"  # kept for a failure

echo
echo "SelfTune Admin benchmarks on $database, Release, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "Machine: $(nproc) cores, $(free -h | awk '/^Mem:/ {print $2 " memory, " $7 " available"}'), $(uname -sr)"
echo "Load before: ${load_before##*load average: }   after: ${load_after##*load average: }"
echo
{
  printf 'Figure\tValue\tFloor (same run)\tRatio\tTarget\n'
  cat "$table"
} | awk -F'\t' '{ printf "| %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5 }'
if [ -s "$table.details" ]; then echo; cat "$table.details"; fi  # e.g. where a publish's time goes (IngestBenchmarks)
exit $status
