#!/usr/bin/env bash
# Lints every shell script of the project with shellcheck.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v shellcheck >/dev/null 2>&1; then
  echo "shellcheck not found: run 'bash scripts/install-host-deps.sh' (as root)" >&2
  exit 1
fi
mapfile -t files < <(git ls-files -co --exclude-standard '*.sh' .ci/run)
[ "${#files[@]}" -eq 0 ] && exit 0
shellcheck -x "${files[@]}"
