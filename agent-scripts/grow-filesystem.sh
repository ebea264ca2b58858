#!/usr/bin/env bash
# berth grow-filesystem: give the filesystem mounted at the mount point the room of a new or
# enlarged volume.
#
# Modes:
#   add-device  the volume was just attached: it joins the btrfs mounted at the mount point
#               (`btrfs device add -K`, then `btrfs filesystem resize <devid>:max`). No balance:
#               the filesystem is made with metadata DUP, whose chunks need room on one device
#               only, so new data and metadata chunks go to the new device as they are needed
#               (measured by `npm run bench -- grow-host`). A device that is already a member is
#               a no-op (its size is still brought to max); a device with any other signature is
#               refused. A device is never removed.
#   expand      the volume was enlarged in place (ModifyVolume): grow the filesystem to fill it
#               (btrfs `filesystem resize <devid>:max`, `xfs_growfs`, `resize2fs`).
# Runs under the host lock: one berth step at a time on this host, so never during a quiesce.
# Needs no fence of its own: it acts only on a mounted filesystem, quiesce-node leaves none, and
# the fence keeps prepare-node from mounting one again; after a quiesce it fails "nothing is
# mounted". It never answers "refused" for the fence: the grow flow reads "refused" as "the
# device never joined" and deletes the volume, which an earlier run may have added.
# Safe to run twice.
#
# Parameters (environment, delivered by SSM Run Command with interpolationType ENV_VAR;
# an empty value means "not given"):
#   SSM_Mode        add-device | expand (required)
#   SSM_VolumeId    the volume that joins or grew (required)
#   SSM_DeviceName  the device name it was attached as (optional: non-Nitro fallback)
#   SSM_MountPoint  absolute path where the filesystem is mounted (required)
# Host overrides (optional):
#   BERTH_DEVICE_DIR (/dev/disk/by-id)  BERTH_DEV_DIR (/dev: where /dev/sdf or /dev/xvdf appears)
#   BERTH_HOST_ROOT ("")  BERTH_DEVICE_WAIT_SECONDS (60)
#   BERTH_RUN_DIR ($BERTH_HOST_ROOT/run/berth: the host lock host.lock and the fence quiesced;
#   tmpfs)  BERTH_LOCK_WAIT_SECONDS (300: the longest wait for the host lock)
# Output: the last (only) stdout line is one JSON object: {"ok":true,"action":"grow-filesystem",...}
# or {"ok":false,"action":"grow-filesystem","code":…,"error":…}; messages go to stderr.
#   A failure in add-device after the device was looked at carries "joined": true when the device
#   is part of the filesystem (the caller must then keep it), false when it is not.
#   ok:true fields: mode, filesystem, uuid, volumeId, device, added (bool), devid (btrfs, else
#   null), devices, metadataProfile, metadataStep ("none"), sizeBytesBefore, sizeBytes, grewBytes,
#   mountPoint.
#   code "host-busy" (exit 5): another berth step held the host lock past BERTH_LOCK_WAIT_SECONDS;
#   nothing was done (no "joined": the step that holds the lock may be adding this device).
# Exit status: 0 done, 1 failed, 2 invalid parameter, 3 refused (unsafe to act), 5 host busy.
set -euo pipefail
set -o errtrace
readonly ACTION=grow-filesystem

# shellcheck source-path=SCRIPTDIR source=include/common.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/include/common.sh" # berth:include (synth puts the file here)

# --- parameters ---------------------------------------------------------------------------------
MODE=${SSM_Mode:-}
VOLUME_ID=${SSM_VolumeId:-}
DEVICE_NAME=${SSM_DeviceName:-}
MOUNT_POINT=${SSM_MountPoint:-}

check_parameters() {
  [[ $MODE =~ $GROW_MODE_PATTERN ]] || invalid "Mode must be add-device or expand: '$MODE'"
  [ -n "$VOLUME_ID" ] || invalid "VolumeId is required"
  is_volume_id "$VOLUME_ID" || invalid "VolumeId: '$VOLUME_ID' is not a volume id (vol-<8 to 17 hex digits>)"
  [ -z "$DEVICE_NAME" ] || is_device_name "$DEVICE_NAME" || invalid "DeviceName: '$DEVICE_NAME' is not a device name berth attaches (pattern $DEVICE_NAME_PATTERN)"
  check_mount_point "$MOUNT_POINT"
}

# --- btrfs --------------------------------------------------------------------------------------
# btrfs_devid <mount target> <canonical device>: sets DEVID to the device's id in the filesystem
# (empty when it is not a member), DEVICE_SLACK to the bytes of the device that the filesystem
# does not use yet, and DEVICE_COUNT to the number of devices. Asks the mounted filesystem itself
# (`device usage` uses its ioctls), not a scan of every device on the host, which would also list
# the devices of a copy of this filesystem.
btrfs_devid() {
  local target=$1 device=$2 listing id path slack
  DEVID='' DEVICE_SLACK=0 DEVICE_COUNT=0
  listing=$(btrfs device usage -b -- "$target")
  while read -r id slack path; do
    DEVICE_COUNT=$((DEVICE_COUNT + 1))
    if [ "$(readlink -f -- "$path" 2>/dev/null || echo "$path")" = "$device" ]; then
      DEVID=$id DEVICE_SLACK=$slack
    fi
  done < <(awk '
    /, ID: [0-9]+$/ { if (id != "") print id, slack, path; path = $0; sub(/, ID: [0-9]+$/, "", path); id = $NF; slack = 0 }
    /^ *Device slack:/ { slack = $NF }
    END { if (id != "") print id, slack, path }' <<<"$listing")
  return 0
}

# resize_to_max <target>: lets the filesystem use all of device DEVID (only when it does not yet:
# the kernel refuses any resize of a device below 256 MiB, even one to its current size).
resize_to_max() {
  if [ "$DEVICE_SLACK" -gt 0 ]; then
    btrfs filesystem resize "$DEVID:max" "$1" >/dev/null
  fi
}

metadata_profile() {
  btrfs filesystem df -- "$1" | awk -F'[,:] *' '$1 == "Metadata" { print $2; exit }'
}

add_device() {
  local target=$1 device=$2 uuid
  [ "$FSTYPE" = btrfs ] || fail refused "add-device needs btrfs: $target is $FSTYPE (use Mode=expand after enlarging its volume)"
  uuid=$(blkid -p -s UUID -o value -- "$SOURCE" || true)
  btrfs_devid "$target" "$device"
  # Every failure from here on says whether the device is part of the filesystem: one that joined
  # must never be detached or deleted by the caller.
  FAIL_EXTRA='"joined":false'
  if [ -n "$DEVID" ]; then
    ADDED=false
    FAIL_EXTRA='"joined":true'
  else
    probe_device "$device"
    if [ "$PROBE_BLANK" -ne 1 ]; then
      if [ -n "$uuid" ] && [ "$PROBE_UUID" = "$uuid" ]; then
        fail refused "$VOLUME_ID ($device) carries this filesystem's UUID but is not one of its devices: refusing to add it"
      fi
      fail refused "$VOLUME_ID ($device) carries ${PROBE_WHAT:-a signature}: refusing to add it to $target"
    fi
    # -K: no TRIM of the new device (a new EBS volume has nothing to discard). No -f: btrfs
    # refuses a device with a filesystem on its own as well.
    if ! btrfs device add -K -- "$device" "$target" </dev/null; then
      btrfs_devid "$target" "$device"
      [ -z "$DEVID" ] || FAIL_EXTRA='"joined":true'
      fail failed "btrfs device add $device $target failed"
    fi
    FAIL_EXTRA='"joined":true'
    ADDED=true
    btrfs_devid "$target" "$device"
    [ -n "$DEVID" ] || fail failed "$device was added but does not appear in 'btrfs filesystem show $target'"
  fi
  resize_to_max "$target"
  METADATA_PROFILE=$(metadata_profile "$target")
  case $METADATA_PROFILE in
    DUP | single) ;;
    *) warn "metadata profile is $METADATA_PROFILE: its chunks need free space on several devices; consider 'btrfs balance start -mconvert=dup $target'" ;;
  esac
  UUID=$uuid
}

has_cap_sys_resource() {
  local caps
  caps=$(awk '/^CapEff:/ { print $2 }' /proc/self/status)
  [ -n "$caps" ] && (((16#$caps >> 24) & 1))
}

resize_ext4() {
  local device=$1 output
  if output=$(resize2fs -- "$device" 2>&1 </dev/null); then
    printf '%s\n' "$output" >&2
    return 0
  fi
  printf '%s\n' "$output" >&2
  # The kernel allows an online ext4 resize only with CAP_SYS_RESOURCE (root on EC2 has it).
  if ! has_cap_sys_resource; then
    fail failed "online ext4 resize needs CAP_SYS_RESOURCE, which this process lacks (a container?): $device not resized"
  fi
  fail failed "resize2fs $device failed: $(tail -n1 <<<"$output")"
}

expand() {
  local target=$1 device=$2 source_device
  source_device=$(readlink -f -- "$SOURCE")
  UUID=$(blkid -p -s UUID -o value -- "$SOURCE" || true)
  case $FSTYPE in
    btrfs)
      btrfs_devid "$target" "$device"
      [ -n "$DEVID" ] || fail refused "$VOLUME_ID ($device) is not a device of the btrfs at $target"
      resize_to_max "$target"
      ;;
    ext4)
      [ "$source_device" = "$device" ] || fail refused "$VOLUME_ID ($device) is not the device of the ext4 at $target ($source_device)"
      resize_ext4 "$device"
      ;;
    xfs)
      [ "$source_device" = "$device" ] || fail refused "$VOLUME_ID ($device) is not the device of the xfs at $target ($source_device)"
      xfs_growfs -- "$target" </dev/null >/dev/null
      ;;
    *) fail refused "cannot expand a $FSTYPE filesystem (btrfs, ext4 and xfs only)" ;;
  esac
}

size_of() { df -B1 --output=size -- "$1" | tail -n1 | tr -d ' '; }

main() {
  local target size_before size_after device
  reject_arguments "$@"
  check_settings
  check_parameters
  take_host_lock
  target=$HOST_ROOT$MOUNT_POINT
  SOURCE=$(mounted_source "$target")
  if [ -z "$SOURCE" ]; then
    # Nothing mounted (the host was quiesced): a blank device is in no filesystem (a device that
    # joined a btrfs carries its superblock), so the caller may remove it.
    if [ "$MODE" = add-device ]; then
      find_device "$VOLUME_ID" "$DEVICE_NAME"
      probe_device "$FOUND_DEVICE"
      [ "$PROBE_BLANK" -ne 1 ] || FAIL_EXTRA='"joined":false'
    fi
    if fenced; then fail failed "nothing is mounted at $target: quiesce-node released this host's set ($FENCE_WHAT)"; fi
    fail failed "nothing is mounted at $target"
  fi
  FSTYPE=$(findmnt -n -o FSTYPE --mountpoint "$target" | head -n1)
  find_device "$VOLUME_ID" "$DEVICE_NAME"
  device=$FOUND_DEVICE
  DEVID='' DEVICE_SLACK=0 DEVICE_COUNT=1 ADDED=false METADATA_PROFILE=''
  size_before=$(size_of "$target")
  if [ "$MODE" = add-device ]; then
    add_device "$target" "$device"
  else
    expand "$target" "$device"
  fi
  if [ "$FSTYPE" = btrfs ]; then btrfs_devid "$target" "$device"; fi
  size_after=$(size_of "$target")

  succeed "$(printf '"mode":%s,"filesystem":%s,"uuid":%s,"volumeId":%s,"device":%s,"added":%s,"devid":%s,"devices":%s,"metadataProfile":%s,"metadataStep":"none","sizeBytesBefore":%s,"sizeBytes":%s,"grewBytes":%s,"mountPoint":%s' \
    "$(json_string "$MODE")" "$(json_string "$FSTYPE")" "$(json_string "$UUID")" \
    "$(json_string "$VOLUME_ID")" "$(json_string "$device")" "$ADDED" "${DEVID:-null}" \
    "$DEVICE_COUNT" "$(json_string "$METADATA_PROFILE")" "$size_before" "$size_after" \
    "$((size_after - size_before))" \
    "$(json_string "$MOUNT_POINT")")"
}

main "$@"
