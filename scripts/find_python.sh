#!/usr/bin/env bash
# Print the path of a python interpreter of version $1 (e.g. 3.10): python$1 on PATH if it runs,
# else a pyenv install of it. Exits 1 with a hint when there is none.
set -euo pipefail
v="$1"
if command -v "python$v" >/dev/null 2>&1 && "python$v" -c 'import sys' >/dev/null 2>&1; then
  command -v "python$v"; exit 0
fi
root="$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")"
for p in "$root"/versions/"$v".*/bin/python"$v"; do
  [ -x "$p" ] && { echo "$p"; exit 0; }
done
echo "python$v not found: install Python $v (e.g. 'pyenv install $v') and re-run make" >&2
exit 1
