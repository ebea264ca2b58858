#!/usr/bin/env bash
# berth prepare-node: make the node's berth usable on this instance once its volumes are attached.
#
# Finds each volume of the set by its id, makes a filesystem only when EVERY volume is blank (a
# multi-volume blank set becomes one multi-device btrfs), refuses a set that mixes blank and data
# volumes or carries a foreign signature, mounts by UUID, persists the mount in fstab (by UUID,
# nofail, never duplicated), writes the environment file atomically, sets rp_filter=2 on the
# interface that carries the node's IP and starts the service unit if one is given.
# Safe to run twice: a second run changes nothing and reports what it found.
#
# Parameters (environment, delivered by SSM Run Command with interpolationType ENV_VAR;
# an empty value means "not given"):
#   SSM_VolumeIds           comma-separated volume ids, primary first (required)
#   SSM_DeviceNames         comma-separated device names they were attached as, same order (optional)
#   SSM_MountPoint          absolute path (required)
#   SSM_Filesystem          btrfs | ext4 | xfs (required; ext4 and xfs hold one volume)
#   SSM_NodeId              the NodeID (optional: empty for a scratch volume)
#   SSM_NetworkInterfaceId  the set's ENI id (optional)
#   SSM_NodeIp              the ENI's primary private IPv4 (optional)
#   SSM_EnvFile             absolute path of the environment file (optional: none written when empty)
#   SSM_ServiceUnit         systemd unit to start once mounted (optional)
# Host overrides (optional):
#   BERTH_DEVICE_DIR (/dev/disk/by-id)  BERTH_DEV_DIR (/dev: where /dev/sdf or /dev/xvdf appears)
#   BERTH_HOST_ROOT ("")  BERTH_FSTAB ($BERTH_HOST_ROOT/etc/fstab)
#   BERTH_DEVICE_WAIT_SECONDS (60)  BERTH_IFACE_WAIT_SECONDS (30)  BERTH_SYSTEMCTL (systemctl)
#   BERTH_PROC_SYS (/proc/sys: where net/ipv4/conf/<interface>/rp_filter lives)
# Output: the last (only) stdout line is one JSON object: {"ok":true,"action":"prepare-node",...}
# or {"ok":false,"action":"prepare-node","code":…,"error":…}; messages go to stderr.
#   ok:true fields: formatted (bool), filesystem, uuid, volumeIds, devices, sizeBytes, mountPoint,
#   mount (mounted|already-mounted), fstab (added|replaced|unchanged), envFile (written|unchanged|
#   none), rpFilter (<interface>|interface-not-found|skipped), unit (started|none).
#   No interface carrying NodeIp after BERTH_IFACE_WAIT_SECONDS is not an error: the data is
#   mounted and the OS may still configure the ENI; it is reported as rpFilter "interface-not-found".
# Exit status: 0 done, 1 failed, 2 invalid parameter, 3 refused (unsafe to act).
set -euo pipefail
set -o errtrace
readonly ACTION=prepare-node

# shellcheck source-path=SCRIPTDIR source=include/common.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/include/common.sh" # berth:include (synth puts the file here)

# --- parameters ---------------------------------------------------------------------------------
VOLUME_IDS_RAW=${SSM_VolumeIds:-}
DEVICE_NAMES_RAW=${SSM_DeviceNames:-}
MOUNT_POINT=${SSM_MountPoint:-}
FILESYSTEM=${SSM_Filesystem:-}
NODE_ID=${SSM_NodeId:-}
ENI_ID=${SSM_NetworkInterfaceId:-}
NODE_IP=${SSM_NodeIp:-}
ENV_FILE=${SSM_EnvFile:-}
SERVICE_UNIT=${SSM_ServiceUnit:-}
VOLUME_IDS=()
DEVICE_NAMES=()

check_parameters() {
  local id name i j
  [ -n "$VOLUME_IDS_RAW" ] || invalid "VolumeIds is required"
  IFS=, read -r -a VOLUME_IDS <<<"$VOLUME_IDS_RAW"
  [ "$(
    IFS=,
    echo "${VOLUME_IDS[*]}"
  )" = "$VOLUME_IDS_RAW" ] || invalid "VolumeIds must be volume ids separated by single commas: '$VOLUME_IDS_RAW'"
  if [ "${#VOLUME_IDS[@]}" -lt 1 ] || [ "${#VOLUME_IDS[@]}" -gt "$MAX_SET_VOLUMES" ]; then
    invalid "VolumeIds must list 1 to $MAX_SET_VOLUMES volume ids"
  fi
  for i in "${!VOLUME_IDS[@]}"; do
    id=${VOLUME_IDS[$i]}
    is_volume_id "$id" || invalid "VolumeIds: '$id' is not a volume id (vol-<8 to 17 hex digits>)"
    for ((j = 0; j < i; j++)); do
      [ "${VOLUME_IDS[$j]}" != "$id" ] || invalid "VolumeIds: '$id' is listed twice"
    done
  done
  if [ -n "$DEVICE_NAMES_RAW" ]; then
    IFS=, read -r -a DEVICE_NAMES <<<"$DEVICE_NAMES_RAW"
    [ "$(
      IFS=,
      echo "${DEVICE_NAMES[*]}"
    )" = "$DEVICE_NAMES_RAW" ] || invalid "DeviceNames must be device paths separated by single commas: '$DEVICE_NAMES_RAW'"
    [ "${#DEVICE_NAMES[@]}" -eq "${#VOLUME_IDS[@]}" ] ||
      invalid "DeviceNames must list one device name per volume id (${#VOLUME_IDS[@]})"
    for name in "${DEVICE_NAMES[@]}"; do
      is_device_name "$name" || invalid "DeviceNames: '$name' is not a device name berth attaches (pattern $DEVICE_NAME_PATTERN)"
    done
  fi
  check_mount_point "$MOUNT_POINT"
  [[ $FILESYSTEM =~ $FILESYSTEM_PATTERN ]] || invalid "Filesystem must be btrfs, ext4 or xfs: '$FILESYSTEM'"
  if [ "$FILESYSTEM" != btrfs ] && [ "${#VOLUME_IDS[@]}" -gt 1 ]; then
    invalid "a set of ${#VOLUME_IDS[@]} volumes needs btrfs: $FILESYSTEM holds one volume"
  fi
  [ -z "$NODE_ID" ] || is_node_id "$NODE_ID" || invalid "NodeId must match $NODE_ID_PATTERN: '$NODE_ID'"
  [ -z "$ENI_ID" ] || is_eni_id "$ENI_ID" || invalid "NetworkInterfaceId is not an ENI id (eni-<8 to 17 hex digits>): '$ENI_ID'"
  [ -z "$NODE_IP" ] || is_ipv4 "$NODE_IP" || invalid "NodeIp is not an IPv4 address: '$NODE_IP'"
  [ -z "$ENV_FILE" ] || is_abs_path "$ENV_FILE" || invalid "EnvFile must be an absolute path without '..', spaces or shell metacharacters: '$ENV_FILE'"
  check_unit "$SERVICE_UNIT"
}

DEVICES=()
classify_set() {
  local i device existing blank=0 data=0 uuid='' descriptions=()
  for i in "${!VOLUME_IDS[@]}"; do
    find_device "${VOLUME_IDS[$i]}" "${DEVICE_NAMES[$i]:-}"
    device=$FOUND_DEVICE
    for existing in "${DEVICES[@]}"; do
      [ "$existing" != "$device" ] || fail refused "volumes ${VOLUME_IDS[*]} resolve to the same device $device"
    done
    DEVICES+=("$device")
    probe_device "$device"
    if [ "$PROBE_BLANK" -eq 1 ]; then
      blank=$((blank + 1))
      descriptions+=("${VOLUME_IDS[$i]}=$device: blank")
      continue
    fi
    data=$((data + 1))
    descriptions+=("${VOLUME_IDS[$i]}=$device: ${PROBE_WHAT:-unknown signature}")
    [ "$PROBE_TYPE" = "$FILESYSTEM" ] ||
      fail refused "${VOLUME_IDS[$i]} ($device) carries ${PROBE_WHAT:-an unknown signature}, not $FILESYSTEM: refusing to format or mount it"
    [ -n "$PROBE_UUID" ] || fail refused "${VOLUME_IDS[$i]} ($device) carries $FILESYSTEM without a UUID"
    if [ -z "$uuid" ]; then
      uuid=$PROBE_UUID
    elif [ "$uuid" != "$PROBE_UUID" ]; then
      fail refused "the set's volumes belong to different filesystems (${descriptions[*]})"
    fi
  done
  if [ "$blank" -gt 0 ] && [ "$data" -gt 0 ]; then
    fail refused "the set mixes blank volumes and volumes with data (${descriptions[*]}): refusing to format any of them"
  fi
  SET_BLANK=$((data == 0))
  FS_UUID=$uuid
}

make_filesystem() {
  local device
  # Probe once more right before mkfs: a signature that appeared meanwhile stops everything.
  for device in "${DEVICES[@]}"; do
    probe_device "$device"
    [ "$PROBE_BLANK" -eq 1 ] || fail refused "$device is no longer blank ($PROBE_WHAT): refusing to format"
  done
  # No -f/-F: mkfs.btrfs and mkfs.xfs refuse an existing filesystem on their own as well.
  case $FILESYSTEM in
    # Metadata DUP on every device count: a DUP chunk needs room on one device only, so a device
    # added later takes new metadata without any balance (raid1 metadata would need two).
    btrfs) mkfs.btrfs -q -K -d single -m dup -- "${DEVICES[@]}" </dev/null ;;
    ext4) mkfs.ext4 -q -E nodiscard -- "${DEVICES[0]}" </dev/null ;;
    xfs) mkfs.xfs -q -K -- "${DEVICES[0]}" </dev/null ;;
  esac
  if command -v udevadm >/dev/null 2>&1; then udevadm settle --timeout=10 || true; fi
  probe_device "${DEVICES[0]}"
  if [ "$PROBE_TYPE" != "$FILESYSTEM" ] || [ -z "$PROBE_UUID" ]; then
    fail failed "mkfs.$FILESYSTEM left no $FILESYSTEM signature on ${DEVICES[0]}"
  fi
  FS_UUID=$PROBE_UUID
}

# --- mount --------------------------------------------------------------------------------------

mount_filesystem() {
  local target=$HOST_ROOT$MOUNT_POINT source found
  MOUNT_STATE=mounted
  source=$(mounted_source "$target")
  if [ -n "$source" ]; then
    found=''
    if [ -b "$source" ]; then found=$(blkid -p -s UUID -o value -- "$source" || true); fi
    [ "$found" = "$FS_UUID" ] ||
      fail refused "$target already has $source mounted (UUID '${found:-unknown}'), not the set's filesystem $FS_UUID"
    MOUNT_STATE=already-mounted
    return 0
  fi
  mkdir -p -- "$target"
  if [ "$FILESYSTEM" = btrfs ]; then
    btrfs device scan -- "${DEVICES[@]}" >/dev/null
  fi
  if ! mount -t "$FILESYSTEM" "UUID=$FS_UUID" "$target" </dev/null; then
    if [ "$FILESYSTEM" = btrfs ]; then btrfs filesystem show "$FS_UUID" || true; fi
    fail failed "could not mount UUID=$FS_UUID ($FILESYSTEM) at $target"
  fi
}

# --- fstab --------------------------------------------------------------------------------------
persist_mount() {
  local pass=0 desired current dir tmp
  [ "$FILESYSTEM" != ext4 ] || pass=2
  desired="UUID=$FS_UUID $MOUNT_POINT $FILESYSTEM defaults,nofail 0 $pass"
  dir=$(dirname -- "$FSTAB")
  mkdir -p -- "$dir"
  [ -e "$FSTAB" ] || : >"$FSTAB"
  current=$(awk -v mp="$MOUNT_POINT" -v id="UUID=$FS_UUID" \
    '$1 !~ /^#/ && NF >= 2 && ($2 == mp || $1 == id) { print $1, $2, $3, $4, $5, $6 }' "$FSTAB")
  if [ "$current" = "$desired" ]; then
    FSTAB_STATE=unchanged
    return 0
  fi
  FSTAB_STATE=added
  [ -z "$current" ] || FSTAB_STATE=replaced
  tmp=$(mktemp "$dir/.fstab.berth.XXXXXX")
  awk -v mp="$MOUNT_POINT" -v id="UUID=$FS_UUID" \
    '!($1 !~ /^#/ && NF >= 2 && ($2 == mp || $1 == id))' "$FSTAB" >"$tmp"
  printf '%s\n' "$desired" >>"$tmp"
  chmod 0644 "$tmp"
  mv -f -- "$tmp" "$FSTAB"
  # systemd turns fstab into mount units; let it see the new line (not fatal where it cannot).
  if command -v "$SYSTEMCTL" >/dev/null 2>&1; then
    "$SYSTEMCTL" daemon-reload </dev/null || warn "'$SYSTEMCTL daemon-reload' failed; the fstab entry is written"
  else
    warn "'$SYSTEMCTL' not found: skipped daemon-reload"
  fi
}

# --- environment file ---------------------------------------------------------------------------
write_env_file() {
  local path=$HOST_ROOT$ENV_FILE dir content tmp
  ENV_STATE=none
  [ -n "$ENV_FILE" ] || return 0
  content=$(printf '%s\n' \
    "NODE_ID=$NODE_ID" \
    "NODE_IP=$NODE_IP" \
    "VOLUME_IDS=$(
      IFS=,
      echo "${VOLUME_IDS[*]}"
    )" \
    "NETWORK_INTERFACE_ID=$ENI_ID" \
    "MOUNT_POINT=$MOUNT_POINT")
  if [ -f "$path" ] && [ "$(cat -- "$path")" = "$content" ]; then
    ENV_STATE=unchanged
    return 0
  fi
  dir=$(dirname -- "$path")
  mkdir -p -- "$dir"
  tmp=$(mktemp "$dir/.$(basename -- "$path").berth.XXXXXX")
  printf '%s\n' "$content" >"$tmp"
  chmod 0644 "$tmp"
  mv -f -- "$tmp" "$path"
  ENV_STATE=written
}

# --- rp_filter ----------------------------------------------------------------------------------
set_rp_filter() {
  local deadline iface='' file
  RP_STATE=skipped
  [ -n "$NODE_IP" ] || return 0
  deadline=$((SECONDS + IFACE_WAIT))
  while :; do
    iface=$(ip -o -4 addr show | awk -v ip="$NODE_IP" '{ split($4, a, "/"); if (a[1] == ip) { sub(/@.*/, "", $2); print $2; exit } }')
    [ -z "$iface" ] || break
    [ "$SECONDS" -lt "$deadline" ] || break
    sleep 1
  done
  if [ -z "$iface" ]; then
    # Not fatal: the data is mounted; the interface may still be configured by the OS later.
    warn "no interface carries $NODE_IP after ${IFACE_WAIT}s: rp_filter not set"
    RP_STATE=interface-not-found
    return 0
  fi
  file=$PROC_SYS/net/ipv4/conf/$iface/rp_filter
  if [ "$(cat -- "$file" 2>/dev/null || true)" != 2 ]; then
    printf '2\n' >"$file" || fail failed "could not set $file to 2"
  fi
  RP_STATE=$iface
}

# --- service unit -------------------------------------------------------------------------------
start_unit() {
  UNIT_STATE=none
  [ -n "$SERVICE_UNIT" ] || return 0
  "$SYSTEMCTL" start -- "$SERVICE_UNIT" </dev/null || fail failed "could not start $SERVICE_UNIT"
  UNIT_STATE=started
}

main() {
  reject_arguments "$@"
  check_settings
  check_parameters
  for tool in blkid wipefs lsblk findmnt mount ip "mkfs.$FILESYSTEM"; do
    command -v "$tool" >/dev/null 2>&1 || fail failed "required tool '$tool' is not installed"
  done
  [ "$FILESYSTEM" != btrfs ] || command -v btrfs >/dev/null 2>&1 || fail failed "required tool 'btrfs' is not installed"

  classify_set
  local formatted=false size tool
  if [ "$SET_BLANK" -eq 1 ]; then
    make_filesystem
    formatted=true
  fi
  mount_filesystem
  persist_mount
  write_env_file
  set_rp_filter
  start_unit
  size=$(df -B1 --output=size -- "$HOST_ROOT$MOUNT_POINT" | tail -n1 | tr -d ' ')

  succeed "$(printf '"formatted":%s,"filesystem":%s,"uuid":%s,"volumeIds":%s,"devices":%s,"sizeBytes":%s,"mountPoint":%s,"mount":%s,"fstab":%s,"envFile":%s,"rpFilter":%s,"unit":%s' \
    "$formatted" "$(json_string "$FILESYSTEM")" "$(json_string "$FS_UUID")" \
    "$(json_array "${VOLUME_IDS[@]}")" "$(json_array "${DEVICES[@]}")" "$size" \
    "$(json_string "$MOUNT_POINT")" "$(json_string "$MOUNT_STATE")" "$(json_string "$FSTAB_STATE")" \
    "$(json_string "$ENV_STATE")" "$(json_string "$RP_STATE")" "$(json_string "$UNIT_STATE")")"
}

main "$@"
