#!/usr/bin/env bash
# make demo: the whole trip on a built-in default, this project itself.
#
#   connected side:    gobundle create   (this project's full module graph, verified)
#   the USB trip:      gobundle verify, gobundle inspect
#   disconnected side: gobundle serve, then `go build ./...` of this project
#                      with an empty module cache, under `unshare -n` (no
#                      network but loopback) when this machine allows it.
set -euo pipefail
cd "$(dirname "$0")/../.."
GB="$PWD/bin/gobundle"
OUT="$PWD/.demo" # a dot-directory, which go ./... skips: the demo writes a module cache
chmod -R u+w "$OUT" 2>/dev/null || true
rm -rf "$OUT"
mkdir -p "$OUT"

step() { printf '\n== %s\n' "$*"; }

step "connected side: bundle this project's dependencies (mirrors: ${GOPROXY:-$(go env GOPROXY)})"
"$GB" create . -o "$OUT/gobundle-deps.gobundle"

step "the USB trip: verify and inspect the bundle"
"$GB" verify "$OUT/gobundle-deps.gobundle"
"$GB" inspect "$OUT/gobundle-deps.gobundle"

step "disconnected side: serve the bundle and build this project with an empty module cache"
offline() {
  # Everything the go command reads comes from the bundle: a fresh GOPATH and
  # module cache, checksum database left at its default (go.sum is complete).
  cat <<SCRIPT
set -e
"$GB" serve --listen 127.0.0.1:0 "$OUT/gobundle-deps.gobundle" > "$OUT/serve.out" 2> "$OUT/serve.log" &
pid=\$!
trap 'kill \$pid 2>/dev/null || true' EXIT
for i in \$(seq 1 100); do grep -q '^GOPROXY=' "$OUT/serve.out" 2>/dev/null && break; sleep 0.1; done
proxy=\$(grep '^GOPROXY=' "$OUT/serve.out" | head -1 | cut -d= -f2-)
echo "clients use: GOPROXY=\$proxy"
env GOENV=off GOPATH="$OUT/client" GOMODCACHE="$OUT/client/mod" GOCACHE="$(go env GOCACHE)" \
    GOFLAGS=-modcacherw GOTOOLCHAIN=local GOPROXY="\$proxy" GONOSUMDB= GOPRIVATE= GONOPROXY= \
    GOSUMDB="$(go env GOSUMDB)" go build -o "$OUT/gobundle-offline" ./cmd/gobundle
echo "built $OUT/gobundle-offline from the bundle alone"
SCRIPT
}
offline > "$OUT/offline.sh"
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null && unshare -n true 2>/dev/null; then
  echo "(air gap: unshare -n, loopback only)"
  unshare -n sh -c "ip link set lo up && bash '$OUT/offline.sh'"
else
  echo "(unshare -n unavailable: running on loopback without an enforced air gap)"
  bash "$OUT/offline.sh"
fi
"$OUT/gobundle-offline" --help | sed -n 1,3p
