#!/usr/bin/env bash
# Re-resolve every dependency from scratch, write the result to constraints.txt, and prove it:
# the README's demo and test commands run in the new environment before the lock is replaced.
#   bash scripts/refresh_lock.sh            (about 20 min on 2 cores; needs PyPI, no hub)
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
# shellcheck disable=SC1091
. "$work/venv/bin/activate"
export PIP_DISABLE_PIP_VERSION_CHECK=1
python -m pip install -q -e ".[test]"
{
  echo "# The tested lock: every package of an environment in which the whole suite passed."
  echo "# Regenerate with: bash scripts/refresh_lock.sh   (resolved $(date -u +%Y-%m-%d), $(python -V), $(uname -m))"
  python -m pip freeze --exclude-editable | grep -v '^-e ' | sort -f
} >"$work/constraints.txt"
# The README's two commands, against the new lock, in a second clean environment.
deactivate
python3 -m venv "$work/check"
# shellcheck disable=SC1091
. "$work/check/bin/activate"
out="$work/demo"
python -m pip install -q -e . -c "$work/constraints.txt" && ov-eval demo --out "$out"
python -m pip install -q -e ".[test]" -c "$work/constraints.txt" && python -m pytest -q
cp "$work/constraints.txt" constraints.txt
echo "constraints.txt updated; commit it with the suite result above."
