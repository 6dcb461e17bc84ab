#!/usr/bin/env bash
# Builds the web portal (portal/src, Preact + TSX) into dist/portal: type-checked by its own tsconfig,
# bundled and minified by esbuild into main.js and main.css beside index.html. No CDN: everything the
# page loads is in that folder, served by the controller at /portal/.
set -euo pipefail
cd "$(dirname "$0")/.."
npx tsc -p portal/tsconfig.json
rm -rf dist/portal
npx esbuild portal/src/main.tsx --bundle --minify --sourcemap --format=esm --target=es2022 \
  --jsx=automatic --jsx-import-source=preact --outdir=dist/portal --log-level=warning
cp portal/src/index.html dist/portal/index.html
