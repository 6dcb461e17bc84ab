#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite: pure tests, then kernel tests
# (root required: they build their own network namespaces and remove them).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
if [[ $(id -u) != 0 ]]; then echo "test: the kernel tests need root" >&2; exit 1; fi
node --test --test-concurrency=1 dist/test/unit/ dist/test/controller/ dist/test/portal/ dist/test/kernel/
