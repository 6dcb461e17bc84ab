#!/usr/bin/env bash
# Installs what is missing, builds, and runs the host network service in the foreground with the
# default paths (state /var/lib/switchyard, socket /run/switchyard/hns.sock). Extra arguments go to
# `switchyard hostd` (e.g. --state-dir DIR --socket PATH).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec bin/switchyard hostd "$@"
