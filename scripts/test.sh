#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine: installs the C client libraries and the servers
# (PostgreSQL 15 primary + streaming replica, Redis) on loopback, builds, runs every test, stops them.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
bash scripts/check-deploy.sh
command -v swift >/dev/null || { echo "test.sh: swift is not on PATH (Swift 6 toolchain, e.g. /opt/swift/usr/bin)" >&2; exit 1; }

export CHAINFEED_TEST_SERVERS_DIR=${CHAINFEED_TEST_SERVERS_DIR:-$(mktemp -d /tmp/chainfeed-test.XXXXXX)}
trap 'bash scripts/test-servers.sh stop >/dev/null 2>&1 || true' EXIT
bash scripts/test-servers.sh start >/dev/null
# shellcheck disable=SC1090
source <(bash scripts/test-servers.sh env)

swift build --build-tests
# The end-to-end tests start this very binary.
export CHAINFEED_BIN=${CHAINFEED_BIN:-$(swift build --show-bin-path)/chainfeed}
if [ $# -gt 0 ]; then
  swift test --skip-build "$@"
else
  # Two phases, so that the suites starting real chainfeed clusters (simulator, writer, replicas, dozens of
  # clients) do not starve the timing of the others on a 2-core machine: first everything else, in parallel;
  # then the end-to-end suites one test at a time.
  swift test --skip-build --skip EndToEndTests
  swift test --skip-build --filter EndToEndTests --no-parallel
fi
