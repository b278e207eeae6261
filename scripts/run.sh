#!/usr/bin/env bash
# Builds Chainfeed (release) and runs the all-in-one: a simulated Casper node, the writer and the web
# server in one process on http://127.0.0.1:8080 (CHAINFEED_PORT to change). Arguments go to `chainfeed`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
command -v swift >/dev/null || { echo "run.sh: swift is not on PATH (Swift 6 toolchain, e.g. /opt/swift/usr/bin)" >&2; exit 1; }
swift build -c release --product chainfeed
exec "$(swift build -c release --show-bin-path)/chainfeed" "$@"
