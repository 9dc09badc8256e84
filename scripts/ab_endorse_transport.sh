#!/bin/bash
# Usage: D=/tmp/net TLS=--tls TX=2000 scripts/ab_endorse_transport.sh   (docs/benchmarks.md)
# A/B: same network, endorse_transport toggled between runs, interleaved.
set -u
cd "$(dirname "$0")/.."
D=${D:-$(mktemp -d)/net}; TLS=${TLS:---no-tls}
[ -e "$D" ] && { echo "$D exists: give a new directory in D" >&2; exit 2; }
CL=${CAREL:-.venv/bin/careledger}
$CL network up --dir $D $TLS >/dev/null || exit 1
for rep in 1 2; do
  for mode in http nats; do
    $CL network down --dir $D >/dev/null
    sed -i "s/^endorse_transport = .*/endorse_transport = \"$mode\"/" $D/nodes/*.toml
    $CL network up --dir $D >/dev/null || exit 1
    echo "== rep $rep mode $mode"
    $CL bench network --dir $D --transactions ${TX:-1500} --accounts ${ACC:-1500} --concurrency 48 --nats-messages ${NM:-2000} --json
  done
done
$CL network down --dir $D >/dev/null
