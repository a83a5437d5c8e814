#!/usr/bin/env bash
# Installs the yt-dlp that ytx is tested with, from Debian's trixie-backports
# suite, on a Debian bookworm (or newer) machine or image. bookworm's own
# yt-dlp (2023) cannot read today's YouTube; the backport is an _all.deb
# that runs on bookworm's Python 3.11 with bookworm's python3 packages.
#
# The backports suite is reached through a private apt configuration, so
# the machine's own sources are not changed and nothing else is upgraded.
# Used by the Makefile (tests, `make dev`) and by the Dockerfile's worker
# image. Does nothing when that version is already installed.
#
#   YTDLP_VERSION   the Debian version to install (default below)
#   DEBIAN_MIRROR   the mirror (default: the machine's own, else deb.debian.org)
set -euo pipefail

YTDLP_VERSION=${YTDLP_VERSION:-2026.11.23-1~bpo13+1}
want=${YTDLP_VERSION%%-*}

have=$(yt-dlp --version 2>/dev/null || true)
if [ "$have" = "$want" ]; then
  exit 0
fi
echo "installing yt-dlp $want from trixie-backports (found: ${have:-none})" >&2

sudo=""
[ "$(id -u)" = 0 ] || sudo=sudo

mirror=${DEBIAN_MIRROR:-}
if [ -z "$mirror" ]; then
  # The machine's own Debian mirror, as its deb822 or one-line sources say.
  mirror=$(grep -hsE '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
    | grep -v security | grep -oE 'https?://[^ ]+/debian/?' | head -n1 || true)
fi
mirror=${mirror:-http://deb.debian.org/debian}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie-backports main" >"$work/sources.list"
apt_private=(-o "Dir::Etc::sourcelist=$work/sources.list" -o Dir::Etc::sourceparts=/dev/null
  -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache" -o APT::Get::List-Cleanup=0)

apt-get "${apt_private[@]}" update -qq
(cd "$work" && apt-get "${apt_private[@]}" download "yt-dlp=$YTDLP_VERSION")

# Its dependencies, from the machine's own (bookworm) sources.
$sudo apt-get update -qq
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  python3 python3-certifi python3-mutagen python3-pycryptodome python3-requests python3-urllib3 python3-websockets ca-certificates
$sudo dpkg -i "$work"/yt-dlp_*.deb

have=$(yt-dlp --version)
if [ "$have" != "$want" ]; then
  echo "yt-dlp --version says $have, want $want" >&2
  exit 1
fi
echo "yt-dlp $have installed at $(command -v yt-dlp)" >&2
