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

# ---- berth common: identical in every agent script (a test compares them) ----
# stdout is reserved for the one JSON line (fd 3); every tool's chatter goes to stderr.
exec 3>&1 1>&2
RESULT_SENT=0
# Tools answer in one language and format, whatever the host's locale (their output is parsed).
export LC_ALL=C

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
}

json_string() {
  local s=$1
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  s=${s//$'\n'/\\n}
  s=${s//$'\t'/\\t}
  s=${s//$'\r'/\\r}
  s=${s//[$'\001'-$'\037']/}
  printf '"%s"' "$s"
}

json_array() {
  local out='' item
  for item in "$@"; do out+="${out:+,}$(json_string "$item")"; done
  printf '[%s]' "$out"
}

succeed() {
  [ "$RESULT_SENT" -eq 0 ] || return 0
  RESULT_SENT=1
  printf '{"ok":true,"action":"%s",%s}\n' "$ACTION" "$1" >&3
  exit 0
}

# fail <code> <message> [extra json members]; FAIL_EXTRA (json members) is added to every failure.
FAIL_EXTRA=''
fail() {
  local code=$1 message=$2 extra=${3:-} status=1
  [ -z "$FAIL_EXTRA" ] || extra=${extra:+$extra,}$FAIL_EXTRA
  case $code in invalid-parameter) status=2 ;; refused) status=3 ;; busy) status=4 ;; esac
  echo "$ACTION: error: $message" >&2
  # Inside a command substitution or subshell: leave the JSON line to the main shell.
  [ "$BASHPID" -eq "$$" ] || exit "$status"
  if [ "$RESULT_SENT" -eq 0 ]; then
    RESULT_SENT=1
    printf '{"ok":false,"action":"%s","code":"%s","error":%s%s}\n' \
      "$ACTION" "$code" "$(json_string "$message")" "${extra:+,$extra}" >&3
  fi
  exit "$status"
}

on_error() {
  local status=$? line=$1 command=$2
  trap - ERR
  fail failed "unexpected failure at line $line (exit $status): $command"
}
trap 'on_error "$LINENO" "$BASH_COMMAND"' ERR

warn() { echo "$ACTION: warning: $*" >&2; }

# --- validation -----------------------------------------------------------------------------
# The device-name and NodeID patterns come from the contract block (the SSM documents use the same).
# ---- berth contract: written from lambdas/shared/contract.ts at synth ----
readonly DEVICE_NAME_PATTERN='^/dev/(sd[f-p]|xvd[b-c][a-z])$'
readonly NODE_ID_PATTERN='^[A-Za-z0-9._:@+=-]{1,128}$'
# ---- end of berth contract ----
is_volume_id() { [[ $1 =~ ^vol-[0-9a-f]{8,17}$ ]]; }
is_eni_id() { [[ $1 =~ ^eni-[0-9a-f]{8,17}$ ]]; }
is_node_id() { [[ $1 =~ $NODE_ID_PATTERN ]]; }
is_unit() { [[ $1 =~ ^[A-Za-z0-9][A-Za-z0-9@._:-]*\.(service|target|mount)$ ]] && [ "${#1}" -le 255 ]; }
is_abs_path() {
  [[ $1 =~ ^(/[A-Za-z0-9._+@-]+)+$ ]] && [[ ! $1 =~ (^|/)\.{1,2}(/|$) ]] && [ "${#1}" -le 1024 ]
}
is_device_name() { [[ $1 =~ $DEVICE_NAME_PATTERN ]]; }
is_ipv4() {
  local IFS=. octet
  [[ $1 =~ ^[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$ ]] || return 1
  for octet in $1; do [ "$((10#$octet))" -le 255 ] || return 1; done
}
is_seconds() { [[ $1 =~ ^[0-9]{1,5}$ ]]; }

invalid() { fail invalid-parameter "$1"; }

# --- host settings ----------------------------------------------------------------------------
DEVICE_DIR=${BERTH_DEVICE_DIR:-/dev/disk/by-id}
# Where the kernel's names for a requested device name live (/dev/sdf or /dev/xvdf).
DEV_DIR=${BERTH_DEV_DIR:-/dev}
HOST_ROOT=${BERTH_HOST_ROOT:-}
FSTAB=${BERTH_FSTAB:-$HOST_ROOT/etc/fstab}
DEVICE_WAIT=${BERTH_DEVICE_WAIT_SECONDS:-60}
IFACE_WAIT=${BERTH_IFACE_WAIT_SECONDS:-30}
# shellcheck disable=SC2034 # not every script uses every setting
SYSTEMCTL=${BERTH_SYSTEMCTL:-systemctl}
PROC_SYS=${BERTH_PROC_SYS:-/proc/sys}

check_settings() {
  is_abs_path "$DEVICE_DIR" || invalid "BERTH_DEVICE_DIR must be an absolute path: '$DEVICE_DIR'"
  is_abs_path "$DEV_DIR" || invalid "BERTH_DEV_DIR must be an absolute path: '$DEV_DIR'"
  [ -z "$HOST_ROOT" ] || is_abs_path "$HOST_ROOT" || invalid "BERTH_HOST_ROOT must be an absolute path: '$HOST_ROOT'"
  is_abs_path "$FSTAB" || invalid "BERTH_FSTAB must be an absolute path: '$FSTAB'"
  is_abs_path "$PROC_SYS" || invalid "BERTH_PROC_SYS must be an absolute path: '$PROC_SYS'"
  is_seconds "$DEVICE_WAIT" || invalid "BERTH_DEVICE_WAIT_SECONDS must be a number of seconds: '$DEVICE_WAIT'"
  is_seconds "$IFACE_WAIT" || invalid "BERTH_IFACE_WAIT_SECONDS must be a number of seconds: '$IFACE_WAIT'"
  [[ $SYSTEMCTL =~ ^[A-Za-z0-9._/-]+$ ]] || invalid "BERTH_SYSTEMCTL must be a command name or path: '$SYSTEMCTL'"
}

# --- devices ------------------------------------------------------------------------------------
# Candidate paths for a volume: the Nitro by-id link (its NVMe serial is the volume id without
# the dash), then the requested device name and its /dev/xvdX or /dev/sdX alias.
device_candidates() {
  local volume_id=$1 name=$2
  printf '%s\n' "$DEVICE_DIR/nvme-Amazon_Elastic_Block_Store_${volume_id/-/}"
  case $name in
    /dev/sd*) printf '%s\n' "$DEV_DIR/sd${name#/dev/sd}" "$DEV_DIR/xvd${name#/dev/sd}" ;;
    /dev/xvd*) printf '%s\n' "$DEV_DIR/xvd${name#/dev/xvd}" "$DEV_DIR/sd${name#/dev/xvd}" ;;
  esac
}

# find_device <volume id> <device name or ""> : sets FOUND_DEVICE to the canonical block device,
# waiting up to DEVICE_WAIT seconds for it to appear.
# shellcheck disable=SC2034 # sets globals for the caller
find_device() {
  local volume_id=$1 name=$2 deadline candidate resolved
  deadline=$((SECONDS + DEVICE_WAIT))
  while :; do
    while IFS= read -r candidate; do
      if [ -b "$candidate" ]; then
        resolved=$(readlink -f -- "$candidate")
        if [ -b "$resolved" ]; then
          FOUND_DEVICE=$resolved
          return 0
        fi
      fi
    done < <(device_candidates "$volume_id" "$name")
    [ "$SECONDS" -lt "$deadline" ] || break
    sleep 1
  done
  fail failed "no block device for $volume_id after ${DEVICE_WAIT}s (looked for $(device_candidates "$volume_id" "$name" | paste -sd' ' -))"
}

# probe_device <device>: sets PROBE_BLANK (1 when no signature at all), PROBE_TYPE, PROBE_UUID and
# PROBE_WHAT (a description of what was found). Several probes, so that nothing is missed.
# shellcheck disable=SC2034 # sets globals for the caller
probe_device() {
  local device=$1 output status=0 key value signatures children
  PROBE_BLANK=1 PROBE_TYPE='' PROBE_UUID='' PROBE_WHAT=''
  output=$(blkid -p -o export -- "$device" 2>&1) || status=$?
  case $status in
    0)
      PROBE_BLANK=0
      while IFS='=' read -r key value; do
        case $key in
          TYPE) PROBE_TYPE=$value ;;
          UUID) PROBE_UUID=$value ;;
          PTTYPE) PROBE_WHAT="a $value partition table" ;;
        esac
      done <<<"$output"
      ;;
    2) ;;
    *) fail refused "cannot probe $device (blkid exit $status: $output): refusing to touch it" ;;
  esac
  signatures=$(wipefs --no-act --noheadings -O TYPE -- "$device" | paste -sd, -)
  if [ -n "$signatures" ]; then
    PROBE_BLANK=0
    [ -n "$PROBE_TYPE" ] || PROBE_WHAT=${PROBE_WHAT:-signature(s) $signatures}
  fi
  children=$(lsblk -nr -o NAME -- "$device" | wc -l)
  if [ "$children" -gt 1 ]; then
    PROBE_BLANK=0
    PROBE_WHAT=${PROBE_WHAT:-partitions}
  fi
  if [ -n "$PROBE_TYPE" ]; then PROBE_WHAT="a $PROBE_TYPE filesystem${PROBE_UUID:+ (UUID $PROBE_UUID)}"; fi
  return 0
}

# mounted_source <target>: prints the device mounted at target (empty when nothing is).
mounted_source() { findmnt -n -o SOURCE --mountpoint "$1" 2>/dev/null | head -n1 | sed 's/\[.*\]$//' || true; }

# ---- end of berth common ----

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
  if [ "${#VOLUME_IDS[@]}" -lt 1 ] || [ "${#VOLUME_IDS[@]}" -gt 64 ]; then
    invalid "VolumeIds must list 1 to 64 volume ids"
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
  [ -n "$MOUNT_POINT" ] || invalid "MountPoint is required"
  is_abs_path "$MOUNT_POINT" || invalid "MountPoint must be an absolute path without '..', spaces or shell metacharacters: '$MOUNT_POINT'"
  [ "$MOUNT_POINT" != / ] || invalid "MountPoint must not be /"
  case $FILESYSTEM in
    btrfs | ext4 | xfs) ;;
    *) invalid "Filesystem must be btrfs, ext4 or xfs: '$FILESYSTEM'" ;;
  esac
  if [ "$FILESYSTEM" != btrfs ] && [ "${#VOLUME_IDS[@]}" -gt 1 ]; then
    invalid "a set of ${#VOLUME_IDS[@]} volumes needs btrfs: $FILESYSTEM holds one volume"
  fi
  [ -z "$NODE_ID" ] || is_node_id "$NODE_ID" || invalid "NodeId must match $NODE_ID_PATTERN: '$NODE_ID'"
  [ -z "$ENI_ID" ] || is_eni_id "$ENI_ID" || invalid "NetworkInterfaceId is not an ENI id (eni-<8 to 17 hex digits>): '$ENI_ID'"
  [ -z "$NODE_IP" ] || is_ipv4 "$NODE_IP" || invalid "NodeIp is not an IPv4 address: '$NODE_IP'"
  [ -z "$ENV_FILE" ] || is_abs_path "$ENV_FILE" || invalid "EnvFile must be an absolute path without '..', spaces or shell metacharacters: '$ENV_FILE'"
  [ -z "$SERVICE_UNIT" ] || is_unit "$SERVICE_UNIT" || invalid "ServiceUnit must be a unit name ending in .service, .target or .mount: '$SERVICE_UNIT'"
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
  if [ "$#" -gt 0 ]; then
    usage
    case $1 in -h | --help) exit 0 ;; esac
    invalid "takes no arguments: parameters come from SSM_* environment variables"
  fi
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
