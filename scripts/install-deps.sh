#!/usr/bin/env bash
# Installs the Debian packages Chainfeed builds against (libpq, hiredis) when they are missing, and those the
# deploy checks use: nginx (the local cluster's load balancer, `nginx -t`), yamllint and PyYAML (from Debian,
# not pip: Debian's own python3 is externally managed, and PyPI's copies would land in whichever python is first).
set -euo pipefail
missing=()
[ -f /usr/include/postgresql/libpq-fe.h ] || missing+=(libpq-dev)
[ -f /usr/include/hiredis/hiredis.h ] || missing+=(libhiredis-dev)
command -v python3 >/dev/null || missing+=(python3)
command -v curl >/dev/null || missing+=(curl)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)
[ -x /usr/bin/yamllint ] || { command -v yamllint >/dev/null && yamllint --version >/dev/null 2>&1; } || missing+=(yamllint)
/usr/bin/python3 -c 'import yaml' >/dev/null 2>&1 || python3 -c 'import yaml' >/dev/null 2>&1 || missing+=(python3-yaml)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "install-deps.sh: missing ${missing[*]}; run as root or: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq </dev/null
  apt-get install -y -qq "${missing[@]}" </dev/null >/dev/null
fi
