#!/usr/bin/env bash
# Installs deno, the JavaScript runtime yt-dlp solves YouTube's player
# challenges with, into a directory. Debian has no deno, so it comes from the
# npm registry's platform package (@deno/linux-<arch>-glibc, whose only
# content is the binary), fetched with curl and checked against the sha512
# pinned below (the registry's own integrity value for that version), so
# that neither npm nor Node.js is needed. Used by the Makefile (`make deno`,
# into bin/) and by the Dockerfile's worker image, so that both run the same
# deno. Does nothing when that version is already there.
#
#   install-deno.sh DIR
#   DENO_VERSION   the version to install (default below; another version
#                  needs its sha512s here too)
#   DENO_ARCH      the architecture to install for: amd64/x86_64 or
#                  arm64/aarch64 (default: this machine's), so that an image
#                  build can fetch the target's binary without emulation
set -euo pipefail

DENO_VERSION=${DENO_VERSION:-2.9.6}
dir=${1:?usage: install-deno.sh DIR (where the deno binary goes)}

machine=$(uname -m)
case "${DENO_ARCH:-$machine}" in
  x86_64 | amd64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) echo "install-deno.sh: the npm registry has no Linux build of deno for ${DENO_ARCH:-$machine}; install deno $DENO_VERSION yourself" >&2; exit 1 ;;
esac
case "$machine" in
  x86_64) native=x64 ;;
  aarch64) native=arm64 ;;
  *) native=$machine ;;
esac

# `deno --version` prints "deno 2.9.6 (stable, release, x86_64-unknown-linux-gnu)" first.
if [ "$arch" = "$native" ]; then
  have=$("$dir/deno" --version 2>/dev/null | awk 'NR == 1 {print $2}' || true)
  if [ "$have" = "$DENO_VERSION" ]; then
    exit 0
  fi
fi
echo "installing deno $DENO_VERSION ($arch) into $dir from the npm registry" >&2

# The sha512 of each tarball, hex, from the registry's dist.integrity:
#   curl -fsS https://registry.npmjs.org/@deno/linux-x64-glibc/2.9.6 | jq -r .dist.integrity
case "$DENO_VERSION/$arch" in
  2.9.6/x64) sum=de67784ca2c2bb3b0b0e67cea02e4a37b34065ac525643209bae2f83a7e80f4d090400c2a584b6ff942a5dfce09cfe59433de22cff6f05026d120735d7a380a1 ;;
  2.9.6/arm64) sum=a68aa1a07f41de7625a2280430f4f9b7c1d8fb005e8ae79ad409f943b7ea809ccfd126265aca12fe852758efe9122038a1fcc8072d4496dfe29f9f312adc44a1 ;;
  *) echo "install-deno.sh: no sha512 pinned for deno $DENO_VERSION on $arch; add it to $0" >&2; exit 1 ;;
esac
command -v curl >/dev/null || { echo "install-deno.sh: needs curl" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
url="https://registry.npmjs.org/@deno/linux-$arch-glibc/-/linux-$arch-glibc-$DENO_VERSION.tgz"
curl -fsSL --retry 3 -o "$work/deno.tgz" "$url"
echo "$sum  $work/deno.tgz" | sha512sum --check --quiet - || {
  echo "install-deno.sh: $url does not have the pinned sha512" >&2
  exit 1
}
tar -xzf "$work/deno.tgz" -C "$work" package/deno
mkdir -p "$dir"
install -m 0755 "$work/package/deno" "$dir/deno"

# The sha512 already pins the version; run it too when it is this machine's.
if [ "$arch" = "$native" ]; then
  have=$("$dir/deno" --version | awk 'NR == 1 {print $2}')
  if [ "$have" != "$DENO_VERSION" ]; then
    echo "install-deno.sh: $dir/deno --version says $have, want $DENO_VERSION" >&2
    exit 1
  fi
fi
echo "deno $DENO_VERSION ($arch) installed at $dir/deno" >&2
