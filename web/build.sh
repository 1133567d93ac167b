#!/usr/bin/env bash
# Builds the arena for the browser (wasm32, WebGL2) into web/dist/.
#
#   web/build.sh          # then: cargo run -p bevy_p2p_signaling -- --web-root web/dist
#
# web/dist then holds index.html and loader.js (small, served `no-cache`),
# the game as content-hashed files (`arena-<hash>.js`, `arena-<hash>.wasm`,
# served `immutable`: a browser downloads each build once), and `.br` and
# `.gz` copies of each, which the signaling server sends to browsers that
# accept them. It prints the wasm's raw, gzip and brotli sizes.
# Where the bytes are: web/size-profile.py (sections, code by crate).
# P2P_WASM_PROFILE=<cargo profile> builds with another profile than
# wasm-release (Cargo.toml's, for the published build), to compare.
#
# Needs the wasm32-unknown-unknown target, the wasm-bindgen CLI of the
# version Cargo.lock pins, and the `brotli` and `zopfli` commands (Debian
# packages brotli and zopfli); scripts/test --check-only installs them all.
# (No wasm-opt pass: measured here, -Oz took 4 minutes and saved 1% of the
# gzipped download, 8.32 against 8.38 MB.)
set -euo pipefail
cd "$(dirname "$0")/.."

target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
profile="${P2P_WASM_PROFILE:-wasm-release}"
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
for tool in brotli zopfli; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "web/build.sh: need the $tool command: apt-get install $tool (Debian package $tool)" >&2
    exit 1
  fi
done

cargo build --example arena --target wasm32-unknown-unknown --profile "$profile"

out=web/dist
staging="$(mktemp -d "${TMPDIR:-/tmp}/p2p-web-build.XXXXXX")"
trap 'rm -rf "$staging"' EXIT
# The name section only names functions for debuggers: players never need it.
wasm-bindgen --target web --no-typescript --remove-name-section --remove-producers-section \
  --out-dir "$staging" --out-name arena \
  "$target_dir/wasm32-unknown-unknown/$profile/examples/arena.wasm"

# Named after their content: a new build gets new names, so browsers may
# keep each file for a year (the server says `immutable`).
hash16() { sha256sum "$1" | cut -c1-16; }
wasm_name="arena-$(hash16 "$staging/arena_bg.wasm").wasm"
js_name="arena-$(hash16 "$staging/arena.js").js"
wasm_bytes=$(stat -c %s "$staging/arena_bg.wasm")

rm -rf "$out"
mkdir -p "$out"
mv "$staging/arena_bg.wasm" "$out/$wasm_name"
mv "$staging/arena.js" "$out/$js_name"
cp web/index.html "$out/index.html"
sed -e "s|__GAME_JS__|$js_name|" -e "s|__GAME_WASM__|$wasm_name|" \
  -e "s|__GAME_WASM_BYTES__|$wasm_bytes|" web/loader.js >"$out/loader.js"
if grep -q "__GAME_" "$out/loader.js"; then
  echo "web/build.sh: loader.js still has a placeholder" >&2
  exit 1
fi

# Precompressed copies, side by side (brotli at its best takes a while on
# the wasm).
# gzip's copy comes from zopfli, a slower gzip encoder whose output any
# gzip reader takes: measured on the arena's wasm, one iteration (--i1)
# made it 3.8 % smaller than gzip -9 (5,615,022 against 5,837,183 bytes);
# five (--i5, 31 s against 21 s, beside brotli's own run) take 8 KB more
# off (4,990,940 against 4,999,131 bytes), ten only 1 KB more again.
# Browsers that accept brotli get the .br instead.
pids=()
for file in "$out/$wasm_name" "$out/$js_name" "$out/loader.js" "$out/index.html"; do
  brotli --best --keep --force "$file" &
  pids+=("$!")
  zopfli --i5 -c "$file" >"$file.gz" &
  pids+=("$!")
done
for pid in "${pids[@]}"; do wait "$pid"; done

size() { stat -c %s "$1"; }
echo "web/build.sh: wrote $out/ (profile $profile): $wasm_name, $js_name, loader.js, index.html"
printf 'web/build.sh: wasm_raw_bytes=%s wasm_gzip_bytes=%s wasm_br_bytes=%s js_raw_bytes=%s js_gzip_bytes=%s js_br_bytes=%s\n' \
  "$(size "$out/$wasm_name")" "$(size "$out/$wasm_name.gz")" "$(size "$out/$wasm_name.br")" \
  "$(size "$out/$js_name")" "$(size "$out/$js_name.gz")" "$(size "$out/$js_name.br")"
