#!/bin/bash
# toolbox-smoke: prove every tool in the image runs (the plan's "toolbox image sanity" scenario).
# Usage: docker run --rm ghcr.io/josevictor/backup-toolbox@sha256:<digest> toolbox-smoke
# Prints one version line per tool; exits non-zero naming the first tool that fails.
set -uo pipefail

status=0
check() {
  local name=$1
  shift
  local out
  if out=$("$@" 2>&1); then
    printf '%-14s %s\n' "$name" "$(head -n 1 <<<"$out")"
  else
    printf 'toolbox-smoke: %s failed: %s\n' "$name" "$(head -n 1 <<<"$out")" >&2
    status=1
  fi
}

check pg_dumpall pg_dumpall --version
check psql psql --version
check zstd zstd --version
check age age --version
check age-keygen age-keygen --version
check mc mc --version
check sha256sum sha256sum --version
check backup backup --version
check restore-drill restore-drill --version

if [ "$status" -eq 0 ]; then
  echo "toolbox-smoke OK"
else
  echo "toolbox-smoke FAILED" >&2
fi
exit "$status"
