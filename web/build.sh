#!/usr/bin/env bash
# Builds the arena for the browser (wasm32, WebGL2) into web/dist/.
#
#   web/build.sh          # then: cargo run -p bevy_p2p_signaling -- --web-root web/dist
#
# Needs the wasm32-unknown-unknown target and the wasm-bindgen CLI of the
# version Cargo.lock pins (scripts/test --check-only installs both).
# (No wasm-opt pass: measured here, -Oz took 4 minutes and saved 1% of the
# gzipped download, 8.32 against 8.38 MB.)
set -euo pipefail
cd "$(dirname "$0")/.."

target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
profile=wasm-release
want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock)
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  echo "web/build.sh: missing the wasm32 target: rustup target add wasm32-unknown-unknown" >&2
  exit 1
fi
if [ "$have" != "$want" ]; then
  echo "web/build.sh: need wasm-bindgen CLI $want (found: ${have:-none}): cargo install wasm-bindgen-cli --version $want" >&2
  exit 1
fi

cargo build --example arena --target wasm32-unknown-unknown --profile "$profile"

out=web/dist
rm -rf "$out"
mkdir -p "$out"
wasm-bindgen --target web --no-typescript --out-dir "$out" --out-name arena \
  "$target_dir/wasm32-unknown-unknown/$profile/examples/arena.wasm"
cp web/index.html "$out/index.html"
# Precompressed copies: the signaling server sends `file.gz` to browsers that
# accept gzip (every browser), so this is what players download.
for file in "$out/arena_bg.wasm" "$out/arena.js"; do
  gzip -9 --keep --force "$file"
done
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB (%d bytes)", b / 1048576, b }'; }
echo "web/build.sh: wrote $out/arena_bg.wasm: $(mib "$(stat -c %s "$out/arena_bg.wasm")"); served gzipped: $(mib "$(stat -c %s "$out/arena_bg.wasm.gz")")"
