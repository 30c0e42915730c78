#!/usr/bin/env bash
# Fails when a C/C++ source file of the project differs from what clang-format (with the
# repository's .clang-format) makes of it. Third-party code and build trees are not ours.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
command -v clang-format >/dev/null || { echo "SKIP: clang-format not installed"; exit 77; }
cd "$root"
mapfile -t files < <(find libntm servers apps tests bench fuzz tools \
  \( -name '*.c' -o -name '*.cpp' -o -name '*.h' -o -name '*.hpp' \) -type f | sort)
clang-format --dry-run -Werror "${files[@]}"
echo "format_check: ${#files[@]} files formatted"
