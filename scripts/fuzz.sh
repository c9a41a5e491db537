#!/usr/bin/env bash
# Run one fuzz target (fuzz/fuzz_targets/) for a while:
#   scripts/fuzz.sh TARGET MINUTES [JOBS]
#   scripts/fuzz.sh --list
# libFuzzer with AddressSanitizer, on the nightly toolchain (cargo fuzz,
# installed here once). The corpus lives outside the clone
# ($HOME/.cache/yunying/fuzz/corpus/TARGET), seeded from testdata/ by
# fuzz/seeds.py, and grows run after run. Limits are the contract: a run
# stops on a panic, a sanitizer report, an input taking over 1 s, or an
# allocation over 512 MB (the process as a whole may reach 2 GB: the http
# and search targets keep an archive that grows run after run, and
# AddressSanitizer holds freed memory back); the input that did it is kept
# in fuzz/artifacts/TARGET/.
# The last lines printed (executions, coverage, corpus) are what
# benches/results/fuzz.md records.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

targets=$(sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^yunying-fuzz$')
if [ "${1:-}" = --list ] || [ $# -lt 2 ]; then
  [ "${1:-}" = --list ] || echo "usage: scripts/fuzz.sh TARGET MINUTES [JOBS]" >&2
  echo "$targets"
  [ "${1:-}" = --list ]
  exit
fi
target=$1 minutes=$2 jobs=${3:-1}
grep -qx "$target" <<<"$targets" || { echo "no fuzz target $target (scripts/fuzz.sh --list)" >&2; exit 2; }

source scripts/fuzz-tools.sh
if [ ! -d "$corpus/$target" ]; then
  python3 -W ignore fuzz/seeds.py "$corpus"
fi
mkdir -p "$corpus/$target"

# Its own target directory: sanitizer builds share nothing with the product's.
export CARGO_TARGET_DIR="$HOME/.cache/yunying/fuzz/target"
cd fuzz
exec cargo +nightly fuzz run "$target" "$corpus/$target" --jobs "$jobs" -- \
  -max_total_time=$((minutes * 60)) -timeout=1 -malloc_limit_mb=512 -rss_limit_mb=2048 -max_len=262144 -print_final_stats=1
