#!/usr/bin/env bash
# Installs the Debian packages berth's host-side tests and demo need. Idempotent; quiet when all is there.
set -euo pipefail

# iproute2: network namespaces for hosts and ENIs; etcd-server and etcd-client: the real service
# of the end-to-end tests and the demo (Debian's package also brings its unit and the etcd user).
packages=(btrfs-progs xfsprogs e2fsprogs util-linux shellcheck psmisc kmod iproute2 etcd-server etcd-client systemd)
commands=(mkfs.btrfs mkfs.xfs mkfs.ext4 losetup shellcheck fuser modprobe ip etcd etcdctl systemd-analyze)

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
# No service starts at install (etcd-server's would, where an init system runs): Debian's
# policy-rc.d answering 101 forbids it, for this install only.
policy=/usr/sbin/policy-rc.d
placed=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 0755 "$policy"
  placed=1
fi
trap '[ "$placed" -eq 0 ] || rm -f "$policy"' EXIT
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
