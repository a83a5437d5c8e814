#!/usr/bin/env bash
# Installs deno, the JavaScript runtime yt-dlp solves YouTube's player
# challenges with, into a directory, from npm's `deno` package (which ships
# the binary for each platform; Debian has no deno and bookworm's nodejs 18
# is too old for yt-dlp). Used by the Makefile (`make deno`, into bin/) and
# by the Dockerfile's worker image, so that both run the same deno.
# Does nothing when that version is already there.
#
#   install-deno.sh DIR
#   DENO_VERSION   the version to install (default below)
set -euo pipefail

DENO_VERSION=${DENO_VERSION:-2.9.6}
dir=${1:?usage: install-deno.sh DIR (where the deno binary goes)}

# `deno --version` prints "deno 2.9.6 (stable, release, x86_64-unknown-linux-gnu)" first.
have=$("$dir/deno" --version 2>/dev/null | awk 'NR == 1 {print $2}' || true)
if [ "$have" = "$DENO_VERSION" ]; then
  exit 0
fi
echo "installing deno $DENO_VERSION into $dir from npm (found: ${have:-none})" >&2

case "$(uname -m)" in
  x86_64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) echo "install-deno.sh: npm's deno package has no Linux build for $(uname -m); install deno $DENO_VERSION yourself" >&2; exit 1 ;;
esac
command -v npm >/dev/null || { echo "install-deno.sh: needs npm (Node.js 18 or newer) to fetch the deno package" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The platform package alone: the `deno` package's only content is this
# binary (as an optional dependency per platform) and a launcher script.
npm install --no-audit --no-fund --no-save --loglevel=error --prefix "$work" "@deno/linux-$arch-glibc@$DENO_VERSION"
mkdir -p "$dir"
install -m 0755 "$work/node_modules/@deno/linux-$arch-glibc/deno" "$dir/deno"

have=$("$dir/deno" --version | awk 'NR == 1 {print $2}')
if [ "$have" != "$DENO_VERSION" ]; then
  echo "install-deno.sh: $dir/deno --version says $have, want $DENO_VERSION" >&2
  exit 1
fi
echo "deno $have installed at $dir/deno" >&2
