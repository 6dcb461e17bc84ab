#!/usr/bin/env bash
# Installs what Switchyard needs and is missing (Debian packages, npm dependencies) and builds it.
# Idempotent: a second run only checks. Usage: scripts/setup.sh [--test]  (--test adds the tools the
# test suite and benchmarks use).
set -euo pipefail
cd "$(dirname "$0")/.."

runtime_pkgs=(nftables iptables iproute2 util-linux)
test_pkgs=(curl socat busybox-static iperf3 conntrack tcpdump strace containernetworking-plugins containerd runc podman docker.io etcd-server dnsmasq-base chromium)
declare -A provides=([nftables]=nft [iptables]=iptables [iproute2]=ip [util-linux]=nsenter [curl]=curl [socat]=socat
  [busybox-static]=busybox [iperf3]=iperf3 [conntrack]=conntrack [tcpdump]=tcpdump [strace]=strace [containernetworking-plugins]=/usr/lib/cni/bridge
  [containerd]=containerd [runc]=runc [podman]=podman [docker.io]=/usr/sbin/dockerd
  [etcd-server]=/usr/bin/etcd [dnsmasq-base]=/usr/sbin/dnsmasq [chromium]=/usr/bin/chromium)

want=("${runtime_pkgs[@]}")
[[ "${1:-}" == "--test" ]] && want+=("${test_pkgs[@]}")
missing=()
for p in "${want[@]}"; do
  probe=${provides[$p]}
  if [[ "$probe" == /* ]]; then [[ -e "$probe" ]] || missing+=("$p"); else command -v "$probe" >/dev/null || missing+=("$p"); fi
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Debian's docker.io (and containerd) would start their daemons in the root namespace (docker0,
  # iptables) on install: policy-rc.d forbids that for the install. The tests start their own.
  made_policy=""
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && made_policy=1
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [[ -n "$made_policy" ]]; then rm -f /usr/sbin/policy-rc.d; trap - EXIT; fi
fi

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if ((node_major < 20)); then
  echo "setup: Node.js 20 or newer is required (found: $(node -v 2>/dev/null || echo none))" >&2
  exit 1
fi
if [[ ! -d node_modules || package-lock.json -nt node_modules/.package-lock.json ]]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
# A fresh build: a file whose source was removed or renamed must not linger in dist (the test
# command runs every test file there).
rm -rf dist/src dist/test dist/bench
npx tsc -p tsconfig.json
# the web portal the controller serves at /portal/ (dist/portal)
scripts/build-portal.sh
# The CNI plugin, compiled by Bun (npm's `bun` package) into one executable with its code as bytecode:
# a runtime starts it for every ADD/DEL, and it starts in a few ms where Node needs ~75
# (bench/RESULTS-cni.md). It reads no .env or bunfig.toml from the runtime's working directory; a
# small heap (--smol) and a late JIT suit a process that lives for one request (~1-2 ms less CPU).
bun=node_modules/bun/bin/bun.exe
if [[ -x $bun ]] && "$bun" --version >/dev/null 2>&1; then
  "$bun" build src/cni/main.ts --compile --bytecode --minify --no-compile-autoload-dotenv --no-compile-autoload-bunfig \
    --compile-exec-argv=--smol --compile-jit-policy=100 --outfile dist/cni/switchyard >/dev/null
else
  echo "setup: Bun did not install (npm's bun package); the CNI plugin falls back to Node (slower start)" >&2
fi
