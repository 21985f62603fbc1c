#!/usr/bin/env bash
# Builds the Asterisk base image without a container registry: debootstrap a
# Debian sid root file system that already holds Asterisk 22, its sounds and
# SIPp, then `docker import` it. Idempotent: does nothing when the image exists.
#
# Where a registry is reachable you do not need this: docker/asterisk/Dockerfile
# defaults to debian:sid-slim and installs the same packages with apt.
set -euo pipefail

image=${1:-callstatus/asterisk-base:sid}
packages=asterisk,asterisk-core-sounds-en-gsm,sip-tester,ca-certificates,postgresql

if docker image inspect "$image" >/dev/null 2>&1; then
	echo "bootstrap-base: $image exists, reusing it"
	exit 0
fi

# The mirror the machine's apt already uses (deb822 or one-line sources).
mirror=${DEBIAN_MIRROR:-}
if [ -z "$mirror" ]; then
	mirror=$(grep -hsE '^(URIs:|deb )' /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
		grep -oE 'https?://[^ ]*/debian/?' | grep -v security | head -n1 || true)
fi
mirror=${mirror:-http://deb.debian.org/debian}

if ! command -v debootstrap >/dev/null; then
	echo "bootstrap-base: installing debootstrap"
	if [ "$(id -u)" -eq 0 ]; then apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null
	else sudo apt-get update -qq && sudo apt-get install -y -qq debootstrap >/dev/null; fi
fi

root=$(mktemp -d /tmp/asterisk-rootfs.XXXXXX)
trap 'rm -rf "$root"' EXIT
echo "bootstrap-base: debootstrap sid from $mirror (about a minute)"
sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd=sudo
$sudo_cmd debootstrap --variant=minbase --include="$packages" sid "$root" "$mirror" >"$root.log" 2>&1 || {
	tail -n 30 "$root.log" >&2
	echo "bootstrap-base: debootstrap failed (log above)" >&2
	exit 1
}
rm -f "$root.log"
$sudo_cmd rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
$sudo_cmd tar -C "$root" -c . | docker import -c 'CMD ["/bin/bash"]' - "$image" >/dev/null
echo "bootstrap-base: imported $image"
