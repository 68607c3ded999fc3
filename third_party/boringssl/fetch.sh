#!/usr/bin/env bash
# fetch.sh: puts BoringSSL's source (Debian's android-platform-external-boringssl
# source package) under the user's cache directory and prints its path.
#
# Idempotent: a complete tree already in the cache is reused. Needs deb-src
# entries; when they are missing and we are root (or have sudo), they are
# derived from the machine's own apt sources, so no mirror is named here.
set -euo pipefail

PKG=android-platform-external-boringssl
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/tether/boringssl"
DONE="$CACHE/tree/.tether-complete"

if [[ -f "$DONE" ]]; then
  echo "$CACHE/tree"
  exit 0
fi

log() { echo "[boringssl] $*" >&2; }

SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi
fi

have_deb_src() {
  grep -rqsE '^(Types:.*deb-src|deb-src )' /etc/apt/sources.list /etc/apt/sources.list.d/
}

if ! have_deb_src; then
  if [[ $(id -u) -ne 0 && -z "$SUDO" ]]; then
    log "no deb-src entries in apt's sources and not root: cannot fetch $PKG"
    exit 1
  fi
  log "adding deb-src entries derived from the machine's apt sources"
  tmp=$(mktemp)
  if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
    sed -E 's/^Types:[[:space:]]*deb[[:space:]]*$/Types: deb-src/' \
      /etc/apt/sources.list.d/debian.sources >"$tmp"
    $SUDO install -m 0644 "$tmp" /etc/apt/sources.list.d/tether-deb-src.sources
  elif [[ -f /etc/apt/sources.list ]]; then
    sed -nE 's/^deb[[:space:]]/deb-src /p' /etc/apt/sources.list >"$tmp"
    $SUDO install -m 0644 "$tmp" /etc/apt/sources.list.d/tether-deb-src.list
  else
    log "no apt sources found to derive deb-src entries from"
    exit 1
  fi
  rm -f "$tmp"
  $SUDO apt-get update -qq
fi

mkdir -p "$CACHE"
work=$(mktemp -d "$CACHE/fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT
log "fetching the $PKG source package with apt-get source"
if ! (cd "$work" && apt-get source -qq "$PKG" >&2 2>/dev/null); then
  # apt-get source fails when the package lists are older than the deb-src entries.
  $SUDO apt-get update -qq
  (cd "$work" && apt-get source -qq "$PKG" >&2)
fi
src=$(find "$work" -mindepth 1 -maxdepth 1 -type d -name "$PKG-*" | head -n 1)
if [[ -z "$src" || ! -f "$src/BUILD.generated.bzl" ]]; then
  log "apt-get source produced no usable tree"
  exit 1
fi
touch "$src/.tether-complete"
rm -rf "$CACHE/tree"
mv "$src" "$CACHE/tree"
echo "$CACHE/tree"
