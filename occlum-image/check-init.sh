#!/usr/bin/env bash
# Checks that an init binary is what an Occlum initfs can start, and says in one line what is wrong if not.
#
#   check-init.sh musl|glibc BINARY
#
# Occlum starts only PIEs: ET_DYN with a PT_INTERP (src/libos/src/process/elf_file.rs, process/do_spawn).
# musl: the default initfs holds only musl's loader and libc (`gen_initfs` in tools/occlum), so the
# interpreter must be /lib/ld-musl-x86_64.so.1 and libc.so the only NEEDED entry (OpenSSL linked in).
# glibc: for Occlum's Ubuntu 22.04 image, where copy_bom brings glibc, libssl3 and libcrypto3 along.
set -uo pipefail
toolchain=${1:-}
bin=${2:-}
rebuild="make -C occlum-image $toolchain"
bad() { echo "check-init: $bin: $* (rebuild it: $rebuild)" >&2; exit 1; }
case "$toolchain" in musl | glibc) ;; *) echo "usage: check-init.sh musl|glibc BINARY" >&2; exit 2 ;; esac
command -v readelf >/dev/null || { echo "check-init: readelf not found (apt-get install binutils)" >&2; exit 1; }
[ -f "$bin" ] || { echo "check-init: $bin is missing: build it with '$rebuild'" >&2; exit 1; }
header=$(readelf -h "$bin" 2>/dev/null) || bad "not an ELF file"
grep -qE '^ *Type: +DYN' <<<"$header" || bad "not a PIE (ELF type is not ET_DYN; Occlum refuses static executables)"
grep -qE '^ *Machine: +Advanced Micro Devices X86-64' <<<"$header" || bad "not an x86-64 binary"
interp=$(readelf -l "$bin" | sed -n 's/.*\[Requesting program interpreter: \(.*\)\]/\1/p')
[ -n "$interp" ] || bad "has no program interpreter (a static PIE: Occlum needs PT_INTERP)"
needed=$(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | paste -sd' ')
if [ "$toolchain" = musl ]; then
  [ "$interp" = /lib/ld-musl-x86_64.so.1 ] || bad "not a musl PIE: interpreter is $interp, not /lib/ld-musl-x86_64.so.1"
  [ "$needed" = libc.so ] || bad "not a musl PIE for the default initfs: it needs '$needed', only 'libc.so' is there"
else
  [ "$interp" = /lib64/ld-linux-x86-64.so.2 ] || bad "not a glibc PIE: interpreter is $interp"
fi
echo "check-init: $bin: $toolchain PIE, interpreter $interp, needs $needed"
