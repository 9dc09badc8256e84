#!/bin/bash
# Usage: D=/tmp/net TLS=--tls TX=3000 MODES="main batch main batch" scripts/ab_tx_batching.sh
# A/B in one network (docs/benchmarks.md): "main" runs the nodes and the bench client from
# MAIN_SRC (the baseline: one envelope per tx message, one HTTP request per transaction);
# "batch" runs this checkout with [ordering] tx_batching = true; "batch+submitN" also has the
# bench submit N transactions per HTTP request (--submit-batch N); "single+submitN" is this
# checkout without tx_batching, with --submit-batch N. Nodes restart between runs.
set -u
cd "$(dirname "$0")/.."
D=${D:-$(mktemp -d)/net}; TLS=${TLS:---no-tls}
MAIN_SRC=${MAIN_SRC:-/work/main/src}; HERE_SRC=$PWD/src
CL=${CAREL:-/work/venv/bin/careledger}
[ -e "$D" ] && { echo "$D exists: give a new directory in D" >&2; exit 2; }
PYTHONPATH=$HERE_SRC $CL network up --dir "$D" $TLS >/dev/null || exit 1
for mode in ${MODES:-main batch main batch}; do
  PYTHONPATH=$HERE_SRC $CL network down --dir "$D" >/dev/null
  sed -i '/^tx_batching = /d' "$D"/nodes/*.toml
  extra=""
  case $mode in
    main) src=$MAIN_SRC ;;
    batch*) src=$HERE_SRC
      sed -i 's/^\(endorse_transport = .*\)$/\1\ntx_batching = true/' "$D"/nodes/*.toml
      case $mode in *submit*) extra="--submit-batch ${mode##*submit}" ;; esac ;;
    single*) src=$HERE_SRC; extra="--submit-batch ${mode##*submit}" ;;
  esac
  PYTHONPATH=$src $CL network up --dir "$D" >/dev/null || exit 1
  echo "== mode $mode"
  PYTHONPATH=$src $CL bench network --dir "$D" --transactions "${TX:-3000}" \
    --accounts "${ACC:-1500}" --concurrency "${CONC:-96}" --nats-messages "${NM:-2000}" $extra --json
done
PYTHONPATH=$HERE_SRC $CL network down --dir "$D" >/dev/null
grep -h "envelopes in\|proposals in" "$D"/logs/Org*.log | tail -n 12
