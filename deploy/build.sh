#!/usr/bin/env bash
# Builds what the server image holds, into OUT:
#
#   deploy/build.sh [--install-tools] OUT
#
#   OUT/bevy_p2p_signaling   the signaling server, release build
#   OUT/web/                 the arena for browsers (web/build.sh's web/dist)
#
# The Dockerfile's build stage runs exactly this (`deploy/build.sh
# --install-tools /out`), and deploy/check.sh runs it outside Docker, so the
# image's build steps are tested on every scripts/test run.
# --install-tools first adds the wasm32 target, the wasm-bindgen CLI of the
# version Cargo.lock pins and the brotli and zopfli commands (Debian packages
# of those names, for web/build.sh's precompressed copies): a Docker build
# starts with none of them.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

install_tools=0
if [ "${1:-}" = "--install-tools" ]; then
  install_tools=1
  shift
fi
if [ "$#" -ne 1 ]; then
  echo "usage: deploy/build.sh [--install-tools] OUT" >&2
  exit 2
fi
out="$1"

if [ "$install_tools" -eq 1 ]; then
  rustup target add wasm32-unknown-unknown
  want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock)
  have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
  if [ "$have" != "$want" ]; then
    cargo install wasm-bindgen-cli --version "$want" --locked
  fi
  if ! command -v brotli >/dev/null 2>&1 || ! command -v zopfli >/dev/null 2>&1; then
    apt-get update
    apt-get install -y --no-install-recommends brotli zopfli
  fi
fi

cargo build --release --locked -p bevy_p2p_signaling
bash web/build.sh

target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
mkdir -p "$out"
rm -rf "$out/web"
cp "$target_dir/release/bevy_p2p_signaling" "$out/bevy_p2p_signaling"
cp -r web/dist "$out/web"
echo "deploy/build.sh: wrote $out/bevy_p2p_signaling and $out/web/"
