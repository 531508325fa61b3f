#!/usr/bin/env bash
# Builds OpenSSL's libssl.a and libcrypto.a with musl-gcc from Debian's own source package, for the musl init
# (Occlum's default initfs holds only musl's loader and libc, so TLS and crypto are linked in statically).
#
#   musl/openssl.sh OUT        (called by `make musl`; OUT = build/musl/openssl)
#
# The source is `apt-get source openssl=VERSION`, VERSION from musl/openssl.version (override with
# OPENSSL_DEB_VERSION): apt checks the files against the signed Sources index and dpkg-source applies
# Debian's patches. The build is reproducible: fixed Configure options, SOURCE_DATE_EPOCH from the
# package's changelog, relative source paths, no debug info, deterministic ar. OUT/VERSION records what was
# built and the SHA-256 of the libraries. Nothing is rebuilt while OUT/.recipe matches this recipe.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: openssl.sh OUT}
mkdir -p "$out"
out=$(cd "$out" && pwd)
cc=${MUSL_CC:-musl-gcc}
version=${OPENSSL_DEB_VERSION:-$(tr -d '[:space:]' < "$here/openssl.version")}
die() { echo "musl OpenSSL: $*" >&2; exit 1; }

# Only what the init uses stays: TLS 1.2/1.3 client, X.509, EC/RSA/DH, AES-GCM, ChaCha20-Poly1305, SHA-2,
# HKDF. The rest is left out (half the build time), and so are config autoloading (nothing in the initfs
# to load) and the secure heap (it needs kernel headers that musl-gcc does not see).
options=(linux-x86_64 no-shared no-module no-dso no-engine no-async no-comp no-ssl3 no-dtls no-dgram no-srp
  no-idea no-mdc2 no-rc2 no-rc4 no-rc5 no-md4 no-bf no-cast no-camellia no-aria no-seed no-sm2 no-sm3 no-sm4
  no-whirlpool no-siphash no-gost no-des no-dsa no-ec2m no-scrypt no-cms no-ts no-ocsp no-ct no-srtp
  no-nextprotoneg no-ui-console no-tests no-afalgeng no-padlockeng no-legacy no-autoload-config
  no-secure-memory --prefix=/nonexistent --openssldir=/nonexistent -fPIC -O2)

command -v "$cc" >/dev/null || die "$cc not found: apt-get install musl-tools (or run occlum-image/musl/install-build-deps.sh as root)"
command -v dpkg-source >/dev/null || die "dpkg-source not found: apt-get install dpkg-dev"
recipe="openssl=$version | $("$cc" --version | head -1) | ${options[*]} | $(sha256sum "$0" | cut -c1-16)"
if [ -f "$out/.recipe" ] && [ "$(cat "$out/.recipe")" = "$recipe" ] && [ -f "$out/libssl.a" ] && [ -f "$out/libcrypto.a" ]; then
  exit 0
fi

work="$out.work"
rm -rf "$work" "$out"
mkdir -p "$work/deb" "$out"
if ! (cd "$work/deb" && apt-get source --download-only -qq "openssl=$version") >"$work/apt.log" 2>&1; then
  avail=$(apt-cache showsrc openssl 2>/dev/null | sed -n 's/^Version: //p' | tr '\n' ' ')
  if [ -z "$avail" ]; then
    die "apt knows no source package for openssl: add deb-src entries (occlum-image/musl/install-build-deps.sh does, as root)"
  fi
  die "cannot fetch Debian's source package openssl=$version (apt offers: ${avail% }); set OPENSSL_DEB_VERSION or update occlum-image/musl/openssl.version. apt said: $(grep -E '^E:' "$work/apt.log" | head -1)"
fi
dpkg-source -x "$work/deb/openssl_${version#*:}.dsc" "$work/src" >"$work/dpkg-source.log" 2>&1 ||
  die "dpkg-source -x openssl_${version}.dsc failed: $(tail -1 "$work/dpkg-source.log")"
upstream=$(sed -n 's/^MAJOR=\(.*\)$/\1/p;s/^MINOR=\(.*\)$/\1/p;s/^PATCH=\(.*\)$/\1/p' "$work/src/VERSION.dat" | paste -sd.)
case "$upstream" in 3.*) ;; *) die "openssl=$version is OpenSSL ${upstream:-1.x (no VERSION.dat)}; the init needs OpenSSL 3 (Debian 12 or Ubuntu 22.04 sources)" ;; esac

cd "$work/src"
SOURCE_DATE_EPOCH=$(dpkg-parsechangelog -l debian/changelog -STimestamp)
export SOURCE_DATE_EPOCH
CC="$cc" ./Configure "${options[@]}" >"$work/configure.log" 2>&1 || die "Configure failed: $(tail -1 "$work/configure.log")"
make -j"$(nproc)" build_libs >"$work/make.log" 2>&1 || die "make build_libs failed: $(grep -m1 -E 'error' "$work/make.log" || tail -1 "$work/make.log")"

mkdir -p "$out/include"
cp -R include/openssl "$out/include/"
cp libssl.a libcrypto.a "$out/"
{
  echo "source: Debian source package openssl $version (OpenSSL $upstream)"
  echo "dsc sha256: $(sha256sum "$work/deb/openssl_${version#*:}.dsc" | cut -d' ' -f1)"
  echo "compiler: $cc ($("$cc" --version | head -1)); musl $(dpkg-query -W -f='${Version}' musl-dev 2>/dev/null || echo unknown)"
  echo "SOURCE_DATE_EPOCH: $SOURCE_DATE_EPOCH"
  echo "Configure: ${options[*]}"
  echo "libssl.a sha256: $(sha256sum "$out/libssl.a" | cut -d' ' -f1)"
  echo "libcrypto.a sha256: $(sha256sum "$out/libcrypto.a" | cut -d' ' -f1)"
} >"$out/VERSION"
printf '%s\n' "$recipe" >"$out/.recipe"
cd "$out"
rm -rf "$work"
echo "musl OpenSSL: built $upstream from Debian's openssl $version into $out"
