#!/usr/bin/env bash
# berth quiesce-node: make the node's volumes safe to detach.
#
# Stops the service unit if one is given, syncs, and unmounts the mount point, retrying while it
# is busy for at most TimeoutSeconds. When it stays busy, reports the processes that hold it
# (fuser, else lsof) and fails: the caller must then not detach a mounted volume. Never unmounts
# lazily or by force. Nothing mounted is success (safe to run twice).
#
# Parameters (environment, delivered by SSM Run Command with interpolationType ENV_VAR;
# an empty value means "not given"):
#   SSM_MountPoint      absolute path (required)
#   SSM_ServiceUnit     systemd unit to stop first (optional)
#   SSM_TimeoutSeconds  how long to retry a busy unmount, 0 to 3600 (optional, default 60)
# Host overrides (optional):
#   BERTH_HOST_ROOT ("")  BERTH_SYSTEMCTL (systemctl)
# Output: the last (only) stdout line is one JSON object: {"ok":true,"action":"quiesce-node",...}
# or {"ok":false,"action":"quiesce-node","code":…,"error":…,"holders":[…]}; messages go to stderr.
#   ok:true fields: mountPoint, wasMounted, unmounted, unit (stopped|stop-failed|none), and when it
#   unmounted: source, attempts. code "busy" (exit 4) carries holders: [{"pid":…,"command":…}].
# Exit status: 0 done, 1 failed, 2 invalid parameter, 4 still busy.
set -euo pipefail
set -o errtrace
readonly ACTION=quiesce-node

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
MOUNT_POINT=${SSM_MountPoint:-}
SERVICE_UNIT=${SSM_ServiceUnit:-}
TIMEOUT=${SSM_TimeoutSeconds:-60}

check_parameters() {
  [ -n "$MOUNT_POINT" ] || invalid "MountPoint is required"
  is_abs_path "$MOUNT_POINT" || invalid "MountPoint must be an absolute path without '..', spaces or shell metacharacters: '$MOUNT_POINT'"
  [ "$MOUNT_POINT" != / ] || invalid "MountPoint must not be /"
  [ -z "$SERVICE_UNIT" ] || is_unit "$SERVICE_UNIT" || invalid "ServiceUnit must be a unit name ending in .service, .target or .mount: '$SERVICE_UNIT'"
  if ! [[ $TIMEOUT =~ ^[0-9]{1,4}$ ]] || [ "$((10#$TIMEOUT))" -gt 3600 ]; then
    invalid "TimeoutSeconds must be a number of seconds from 0 to 3600: '$TIMEOUT'"
  fi
  TIMEOUT=$((10#$TIMEOUT))
}

stop_unit() {
  UNIT_STATE=none
  [ -n "$SERVICE_UNIT" ] || return 0
  if "$SYSTEMCTL" stop -- "$SERVICE_UNIT" </dev/null; then
    UNIT_STATE=stopped
  else
    # Go on: if the service still holds the mount, the unmount below fails and says who.
    warn "'$SYSTEMCTL stop $SERVICE_UNIT' failed"
    UNIT_STATE=stop-failed
  fi
}

# holders_json <target>: prints a JSON array of the processes that use the filesystem at target.
holders_json() {
  local target=$1 pids='' pid out='' command
  if command -v fuser >/dev/null 2>&1; then
    pids=$(fuser -m "$target" 2>/dev/null | tr -cs '0-9' ' ' || true)
  elif command -v lsof >/dev/null 2>&1; then
    pids=$(lsof -t "$target" 2>/dev/null | tr -cs '0-9' ' ' || true)
  fi
  for pid in $pids; do
    command=$(cat "/proc/$pid/comm" 2>/dev/null || echo '?')
    echo "$ACTION: $target is held by pid $pid ($command)" >&2
    out+="${out:+,}{\"pid\":$pid,\"command\":$(json_string "$command")}"
  done
  printf '[%s]' "$out"
}

main() {
  local target deadline attempts=0 source error='' holders
  if [ "$#" -gt 0 ]; then
    usage
    case $1 in -h | --help) exit 0 ;; esac
    invalid "takes no arguments: parameters come from SSM_* environment variables"
  fi
  check_settings
  check_parameters
  target=$HOST_ROOT$MOUNT_POINT
  stop_unit
  source=$(mounted_source "$target")
  if [ -z "$source" ]; then
    sync
    succeed "$(printf '"mountPoint":%s,"wasMounted":false,"unmounted":false,"unit":%s' \
      "$(json_string "$MOUNT_POINT")" "$(json_string "$UNIT_STATE")")"
  fi
  sync -f -- "$target" || sync
  deadline=$((SECONDS + TIMEOUT))
  while [ -n "$(mounted_source "$target")" ]; do
    attempts=$((attempts + 1))
    if error=$(umount -- "$target" 2>&1 </dev/null); then continue; fi
    [ "$SECONDS" -lt "$deadline" ] || break
    sleep 1
  done
  if [ -n "$(mounted_source "$target")" ]; then
    holders=$(holders_json "$target")
    fail busy "$target is still mounted after ${TIMEOUT}s (${error:-umount failed}); holders: $holders" \
      "\"mountPoint\":$(json_string "$MOUNT_POINT"),\"holders\":$holders"
  fi
  sync
  succeed "$(printf '"mountPoint":%s,"wasMounted":true,"unmounted":true,"source":%s,"attempts":%s,"unit":%s' \
    "$(json_string "$MOUNT_POINT")" "$(json_string "$source")" "$attempts" "$(json_string "$UNIT_STATE")")"
}

main "$@"
