#!/usr/bin/env bash
# Line coverage of fuzz targets over their corpora:
#   scripts/fuzz-coverage.sh TARGET [TARGET ...]
# For each target, `cargo fuzz coverage` builds it with LLVM's source-based
# coverage (no sanitizer; in $HOME/.cache/yunying/fuzz/coverage-target)
# and runs every input of the corpus scripts/fuzz.sh grew
# ($HOME/.cache/yunying/fuzz/corpus/TARGET) once, the profile going to
# fuzz/coverage/TARGET (ignored by git). This script then prints the
# line coverage of the workspace's own files the target reaches (any line
# run), per crate (llvm-cov's summary; dependencies, vendored C and the
# fuzz crate left out), and writes llvm-cov's per-file report and JSON summary to
# $HOME/.cache/yunying/fuzz/coverage/TARGET.{txt,json}. The figures go to
# benches/results/fuzz.md by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
[ $# -ge 1 ] || { echo "usage: scripts/fuzz-coverage.sh TARGET [TARGET ...] (scripts/fuzz.sh --list)" >&2; exit 2; }

source scripts/fuzz-tools.sh
rustup component list --toolchain nightly --installed | grep -q '^llvm-tools' || rustup component add llvm-tools --toolchain nightly
llvm_bin="$(rustc +nightly --print sysroot)/lib/rustlib/$(rustc +nightly -vV | sed -n 's/^host: //p')/bin"
# The instrumented build, outside the clone like every other target directory.
build="$HOME/.cache/yunying/fuzz/coverage-target"
out="$HOME/.cache/yunying/fuzz/coverage"
mkdir -p "$out"
root=$(pwd)

for target in "$@"; do
  [ -d "$corpus/$target" ] || { echo "no corpus for $target: run scripts/fuzz.sh $target first" >&2; exit 2; }
  echo "== $target: $(find "$corpus/$target" -type f | wc -l) inputs"
  (cd fuzz && cargo +nightly fuzz coverage --target-dir "$build" "$target" "$corpus/$target" >"$out/$target.log" 2>&1) \
    || { tail -20 "$out/$target.log" >&2; exit 1; }
  binary=$(find "$build" -type f -perm -u+x -name "$target" -path '*/release/*' | head -n 1)
  profdata="fuzz/coverage/$target/coverage.profdata"
  [ -n "$binary" ] && [ -f "$profdata" ] || { echo "no coverage binary or profile for $target" >&2; exit 1; }
  ignore='(\.cargo/registry|/rustc/|/vendor/|/fuzz/|\.rustup/)'
  "$llvm_bin/llvm-cov" report "$binary" -instr-profile="$profdata" -ignore-filename-regex="$ignore" >"$out/$target.txt"
  "$llvm_bin/llvm-cov" export "$binary" -instr-profile="$profdata" -ignore-filename-regex="$ignore" -summary-only >"$out/$target.json"
  python3 - "$out/$target.json" "$root" <<'EOF'
import json, sys
from collections import defaultdict
data = json.load(open(sys.argv[1]))["data"][0]
root = sys.argv[2].rstrip("/") + "/"
crates = defaultdict(lambda: [0, 0, 0])
for f in data["files"]:
    name = f["filename"].removeprefix(root)
    parts = name.split("/")
    crate = parts[1] if parts[0] == "crates" else parts[0]
    lines = f["summary"]["lines"]
    if lines["covered"]:  # only the files the target reaches at all
        crates[crate][0] += lines["covered"]
        crates[crate][1] += lines["count"]
        crates[crate][2] += 1
covered_all = sum(c[0] for c in crates.values())
count_all = sum(c[1] for c in crates.values())
for crate, (covered, count, files) in sorted(crates.items(), key=lambda kv: -kv[1][0]):
    print(f"   {crate}: {covered:,} of {count:,} lines ({covered / count:.1%}) in the {files} files it reaches")
print(f"   in all: {covered_all:,} of {count_all:,} lines ({covered_all / max(count_all, 1):.1%}) of the files reached")
EOF
done
