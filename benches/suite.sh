#!/usr/bin/env bash
# Every benchmark of the project in one run, then one table of their figures.
#
#   benches/suite.sh                 # the full sizes (about 25 minutes on 2 cores)
#   benches/suite.sh --quick         # smaller runs (a few minutes), for a first look
#
# Environment:
#   BENCH_DATABASE_URL   PostgreSQL server for the fresh benchmark databases
#                        (default postgres://postgres@127.0.0.1:5432/postgres)
#   SUITE_WEB_DATABASE   an existing database for the web load (e.g. one filled by
#                        `hi-outreach generate --scale national`); without it a fresh one is
#                        generated at SUITE_WEB_SCALE (default province)
# Installs wrk (Debian package) when it is missing; starts PostgreSQL when it is down.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

quick=0
[ "${1:-}" = "--quick" ] && quick=1
if [ $quick = 1 ]; then
  messages=20000 guardians=100000 seconds=3 scale=${SUITE_WEB_SCALE:-small}
else
  messages=100000 guardians=1000000 seconds=10 scale=${SUITE_WEB_SCALE:-province}
fi

if ! command -v wrk >/dev/null; then
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq wrk
fi
if ! pg_isready -h 127.0.0.1 -p 5432 -q; then
  as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
  for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
fi

logs=$(mktemp -d)
run() {
  local name=$1
  shift
  echo "== $name: cargo bench $*"
  cargo bench "$@" 2>&1 | tee "$logs/$name.log"
}

# Built before the first run, so that no compilation overlaps a measurement.
cargo bench --no-run -q 2>&1 | grep -v '^ *Executable' || true

run dispatch --bench dispatch -- --messages "$messages"
run materialise-postgres --bench materialise -- --guardians "$guardians"
run materialise-sqlite --bench materialise -- --guardians "$guardians" --db sqlite
run analytics --bench analytics
if [ -n "${SUITE_WEB_DATABASE:-}" ]; then
  run webload --bench webload -- --database "$SUITE_WEB_DATABASE" --seconds "$seconds"
else
  run webload --bench webload -- --scale "$scale" --seconds "$seconds"
fi

echo
echo "== $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo ' (with local changes)')"
echo "   $(nproc) processors ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(free -g | awk '/^Mem:/ {print $2}') GiB," \
  "$(psql "${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}" -Atc 'SHOW server_version' 2>/dev/null | sed 's/^/PostgreSQL /')"
cat "$logs"/dispatch.log "$logs"/materialise-*.log "$logs"/analytics.log "$logs"/webload.log |
  grep '^SUITE' | cut -f2- |
  awk -F'\t' '
    { for (i = 1; i <= NF; i++) { cell[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) } n = NR; if (NF > cols) cols = NF }
    END { for (r = 1; r <= n; r++) { line = ""; for (i = 1; i <= cols; i++) line = line sprintf("%-" w[i] + 2 "s", cell[r, i]); sub(/ +$/, "", line); print line } }'
rm -rf "$logs"
