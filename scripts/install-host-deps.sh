#!/usr/bin/env bash
# Installs the Debian packages berth's host-side tests and demo need. Idempotent; quiet when all is there.
set -euo pipefail

packages=(btrfs-progs xfsprogs e2fsprogs util-linux shellcheck psmisc kmod)
commands=(mkfs.btrfs mkfs.xfs mkfs.ext4 losetup shellcheck fuser modprobe)

missing=()
for i in "${!commands[@]}"; do
  command -v "${commands[$i]}" >/dev/null 2>&1 || missing+=("${packages[$i]}")
done
[ "${#missing[@]}" -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "install-host-deps: missing ${missing[*]}; run as root (or: sudo $0)" >&2
  exit 1
fi
echo "install-host-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
