# Sourced by scripts/fuzz.sh and scripts/fuzz-coverage.sh (from the clone's
# root): the nightly toolchain, cargo-fuzz (installed once under
# $HOME/.cache/yunying/tools) on the PATH, and `corpus`, where each
# target's corpus lives and grows run after run.
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
fuzz_tools="$HOME/.cache/yunying/tools/cargo-fuzz"
if [ ! -x "$fuzz_tools/bin/cargo-fuzz" ]; then
  cargo install cargo-fuzz --locked --version 0.13.1 --root "$fuzz_tools" --quiet
fi
export PATH="$fuzz_tools/bin:$PATH"
corpus="$HOME/.cache/yunying/fuzz/corpus"
