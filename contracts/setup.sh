#!/usr/bin/env bash
# Installs, idempotently, the contracts toolchain pinned in package.json / package-lock.json:
# forge, anvil and cast (npm @foundry-rs/*) and solcjs behind tools/solc. Needs Node.js and npm.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v npm >/dev/null 2>&1; then
    echo "contracts/setup.sh: npm is required (Debian: apt-get install nodejs npm)" >&2
    exit 1
fi
# `npm ci`: exactly the committed lock file, which it never rewrites (the lock lists every
# platform's optional foundry package, so a clean clone stays clean after the README's commands).
# Skipped when this lock file is what is installed already.
if [ ! -x node_modules/.bin/forge ] || ! cmp -s package-lock.json node_modules/.fcc-installed-lock.json; then
    npm ci --no-audit --no-fund --loglevel=error
    cp package-lock.json node_modules/.fcc-installed-lock.json
fi
node_modules/.bin/forge --version | head -1
tools/solc --version | tail -1
