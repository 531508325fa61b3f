#!/usr/bin/env bash
# Builds an Occlum instance whose encrypted root file system is unlocked at boot by Warden's init.
# Run on a machine with Occlum installed (HW mode), this repository and Node.js 20, after building the init
# (`make -C occlum-image musl`, see the README's "Building the image on Occlum"):
#
#   WARDEN_URL=https://warden.example:8443 WARDEN_CA=ca.pem WARDEN_DATA=/var/lib/warden \
#     occlum-image/build.sh APP_DIR SIGN_KEY.pem [INSTANCE_DIR]
#
# The init packed is build/musl/warden-init: a musl PIE that Occlum's default initfs runs as it is (musl's
# loader and libc are all it needs). INIT_TOOLCHAIN=glibc packs build/glibc/warden-init instead, for Occlum's
# Ubuntu 22.04 image only: copy_bom then brings glibc, libssl3 and libcrypto3 into the initfs.
# APP_DIR is copied into the image (its binaries must be under /bin, see Occlum.json entry_points).
# Environment: IMAGE_KEY_SECRET (default app-image-key), POLICY_NAME (default: the instance name),
# WARDEN_MASTER_KEY_FILE (the server's master key, to read the image key from WARDEN_DATA),
# EXTRA_SECRETS ("name:/path/in/rootfs[:mode] ...", written after the mount), WARDEN="node bin/warden.js".
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
toolchain=${INIT_TOOLCHAIN:-musl}
case "$toolchain" in musl | glibc) ;; *) echo "build.sh: INIT_TOOLCHAIN must be musl or glibc" >&2; exit 2 ;; esac
init="$here/build/$toolchain/warden-init"
# Never pack a stale or foreign binary: one line and stop unless it is the PIE this toolchain promises.
"$here/check-init.sh" "$toolchain" "$init" >/dev/null || exit 1
app=$(realpath "${1:?usage: build.sh APP_DIR SIGN_KEY.pem [INSTANCE_DIR]}")
sign_key=$(realpath "${2:?usage: build.sh APP_DIR SIGN_KEY.pem [INSTANCE_DIR]}")
instance=${3:-occlum_instance}
: "${WARDEN_URL:?set WARDEN_URL to the https:// URL of the server}" "${WARDEN_CA:?set WARDEN_CA to the CA certificate file}"
secret=${IMAGE_KEY_SECRET:-app-image-key}
warden=${WARDEN:-node $repo/bin/warden.js}
ca=$(realpath "$WARDEN_CA")

# 1. Pin the server's HPKE key in the init configuration (fetched over TLS checked against WARDEN_CA).
hpke=$(node -e '
  const [url, ca] = process.argv.slice(1);
  require("https").get(url + "/v1/server-keys", { ca: require("fs").readFileSync(ca) }, (res) => {
    let s = ""; res.on("data", (d) => (s += d)).on("end", () => {
      if (res.statusCode !== 200) { console.error(`GET /v1/server-keys: HTTP ${res.statusCode}`); process.exit(1); }
      process.stdout.write(JSON.parse(s).hpke.publicKey); });
  }).on("error", (e) => { console.error(`GET /v1/server-keys: ${e.message}`); process.exit(1); });' "$WARDEN_URL" "$ca")

# 2. A fresh instance with the app in image/ and the init, its config and the CA in initfs/ (measured).
occlum new "$instance"
cd "$instance"
cp "$here/Occlum.json" Occlum.json
cp -a "$app"/. image/
stage=$(mktemp -d) && trap 'rm -rf "$stage"' EXIT
cp "$init" "$stage/init"
# musl: nothing to add, the initfs has musl's loader and libc already (autodep would only copy them again).
# glibc: autodep brings the loader, libc, libssl and libcrypto.
autodep=$([ "$toolchain" = glibc ] && echo true || echo false)
printf 'targets:\n  - target: /bin\n    copy:\n      - files:\n          - name: %s\n            autodep: %s\n' "$stage/init" "$autodep" > "$stage/init.yaml"
copy_bom -f "$stage/init.yaml" --root initfs --include-dir /opt/occlum/etc/template
mkdir -p initfs/etc/warden
cp "$ca" initfs/etc/warden/ca.pem
extra=()
for s in ${EXTRA_SECRETS:-}; do extra+=(--extra "$s"); done
node "$here/render-config.mjs" --url "$WARDEN_URL" --hpke "$hpke" --secret "$secret" "${extra[@]}" > initfs/etc/warden/init.json
"$init" --check initfs/etc/warden/init.json

# 3. The image key comes from Warden (created there with `warden secret create NAME --kind sefs-key`);
#    it only exists on disk for the duration of the build.
$warden secret export-image-key "$secret" --data "${WARDEN_DATA:?set WARDEN_DATA to the server data directory}" ${WARDEN_MASTER_KEY_FILE:+--master-key-file "$WARDEN_MASTER_KEY_FILE"} --out "$stage/image_key"
occlum build -f --image-key "$stage/image_key" --sign-key "$sign_key"

# 4. Measurements and a policy for them (an encrypted image gets a new MRENCLAVE on every build).
echo "MRENCLAVE: $(occlum print mrenclave)"
echo "MRSIGNER:  $(occlum print mrsigner)"
secret_flags=(--secret "$secret")
for s in ${EXTRA_SECRETS:-}; do secret_flags+=(--secret "${s%%:*}"); done
$warden enclave inspect build/lib/libocclum-libos.signed.so --policy "${POLICY_NAME:-$(basename "$instance" | tr 'A-Z_' 'a-z-')}" "${secret_flags[@]}"
