#!/usr/bin/env bash
# runtime-packages.sh BINARY...: prints, one per line, the Debian packages
# that hold the shared libraries the binaries load (gRPC, Protobuf, Abseil,
# libevent, yaml-cpp, prometheus-cpp, ...), so that a slim runtime image
# installs exactly those. Fails, naming it, if a library is not found or
# belongs to no package.
set -euo pipefail
[[ $# -gt 0 ]] || { echo "usage: runtime-packages.sh BINARY..." >&2; exit 2; }
declare -A libs=()
for bin in "$@"; do
  while read -r name arrow path _; do
    # "libfoo.so.1 => /lib/x86_64-linux-gnu/libfoo.so.1 (0x...)"
    [[ "$arrow" == "=>" ]] || continue
    if [[ "$path" == "not" ]]; then
      echo "runtime-packages: $bin: $name not found" >&2
      exit 1
    fi
    libs["$path"]=1
  done < <(ldd "$bin")
done
# dpkg knows a file by the path its package installed, which may be the
# /usr one behind Debian's merged /lib; ask once for every spelling.
paths=()
for lib in "${!libs[@]}"; do
  real=$(readlink -f "$lib")
  paths+=("$lib" "$real" "/usr${lib#/usr}" "/usr${real#/usr}" "${lib#/usr}" "${real#/usr}")
done
owners=$(dpkg -S "${paths[@]}" 2>/dev/null || true)
declare -A owned=()
while IFS= read -r line; do owned["${line#*: }"]=1; done <<<"$owners"
for lib in "${!libs[@]}"; do
  real=$(readlink -f "$lib")
  found=0
  for p in "$lib" "$real" "/usr${lib#/usr}" "/usr${real#/usr}" "${lib#/usr}" "${real#/usr}"; do
    [[ -n "${owned[$p]+x}" ]] && found=1
  done
  if [[ $found -eq 0 ]]; then
    echo "runtime-packages: $lib belongs to no Debian package" >&2
    exit 1
  fi
done
cut -d: -f1 <<<"$owners" | sort -u
