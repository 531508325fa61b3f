#!/usr/bin/env bash
# Installs what `make -C occlum-image musl` needs on Debian 12 (run as root; CI runs it on a fresh machine):
# musl-tools (musl-gcc), dpkg-dev (dpkg-source), perl and make (OpenSSL's build), and deb-src entries so
# that `apt-get source openssl` can fetch Debian's OpenSSL source package. Idempotent.
set -euo pipefail
die() { echo "install-build-deps: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (it calls apt-get)"
export DEBIAN_FRONTEND=noninteractive

# Debian 12 keeps its sources in deb822 form (debian.sources) with Types: deb only; older images use
# sources.list. Add the same archives as deb-src unless some deb-src entry exists already.
if ! grep -rqsE '^(Types:.*\bdeb-src\b|deb-src[[:space:]])' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    sed -E 's/^Types:[[:space:]]*deb[[:space:]]*$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources \
      > /etc/apt/sources.list.d/warden-deb-src.sources
  elif [ -f /etc/apt/sources.list ] && grep -qE '^deb[[:space:]]' /etc/apt/sources.list; then
    grep -E '^deb[[:space:]]' /etc/apt/sources.list | sed -E 's/^deb[[:space:]]/deb-src /' \
      > /etc/apt/sources.list.d/warden-deb-src.list
  else
    die "no Debian archive found in /etc/apt/sources.list or /etc/apt/sources.list.d/debian.sources to add deb-src for"
  fi
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends musl-tools dpkg-dev perl make gcc libc6-dev >/dev/null
versions=$(apt-cache showsrc openssl 2>/dev/null | sed -n 's/^Version: //p' | paste -sd' ')
[ -n "$versions" ] || die "apt has no source package for openssl after adding deb-src"
echo "install-build-deps: musl-gcc at $(command -v musl-gcc); apt offers openssl sources $versions"
