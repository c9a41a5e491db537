#!/bin/sh
# The EMPI matching benchmark (benches/empi/README.md): builds the example,
# links a seeded synthetic population and writes benches/empi/results.md.
#
#   benches/empi/run.sh                      # 100,000 persons, seed 20231, with EM
#   PERSONS=20000 SEED=7 benches/empi/run.sh --auto 22 --review 14
set -eu
cd "$(dirname "$0")/../.."
PERSONS=${PERSONS:-100000}
SEED=${SEED:-20231}
cargo build --release --quiet -p yunying-empi --features synth --example empi-bench
bin="${CARGO_TARGET_DIR:-target}/release/examples/empi-bench"
out=benches/empi/results.md
{
    "$bin" --persons "$PERSONS" --seed "$SEED" --em "$@"
    echo "Run $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores ($(uname -sr)), one matching thread:"
    echo "\`PERSONS=$PERSONS SEED=$SEED benches/empi/run.sh $*\`."
} | tee "$out"
