# shellcheck shell=bash
# berth common: the code every agent script shares (JSON result, failure handling, parameter
# checks, host settings, device lookup and probing). It exists once, here. A script pulls it in
# with its include line (run from the repository, bash sources this file); at synth the infra
# (infra/agent-scripts.ts) puts this file's text in place of that line, so that each SSM document
# embeds one self-contained script. The script sets ACTION (its name in the JSON line) first.
: "${ACTION:?set ACTION before including include/common.sh}"

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
  case $code in invalid-parameter) status=2 ;; refused) status=3 ;; busy) status=4 ;; host-busy) status=5 ;; esac
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
# The patterns come from the contract block: the SSM documents' allowedPatterns, written at synth.
# ---- berth contract: written from lambdas/shared/contract.ts at synth ----
# shellcheck disable=SC2034 # each script uses its own part of the contract
readonly \
  DEVICE_NAME_PATTERN='^/dev/(sd[f-p]|xvd[b-c][a-z])$' \
  NODE_ID_PATTERN='^[A-Za-z0-9._:@+=-]{1,128}$' \
  VOLUME_ID_PATTERN='^vol-[0-9a-f]{8,17}$' \
  OPTIONAL_ENI_PATTERN='^(eni-[0-9a-f]{8,17})?$' \
  OPTIONAL_IPV4_PATTERN='^((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3})?$' \
  OPTIONAL_MAC_PATTERN='^([0-9a-f]{2}(:[0-9a-f]{2}){5})?$' \
  OPTIONAL_SUBNET_CIDR_PATTERN='^((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3}/(1[6-9]|2[0-8]))?$' \
  OPTIONAL_ENV_FILE_PATTERN='^(/(etc|run|var/lib|opt|srv)(/[A-Za-z0-9_@+-][A-Za-z0-9._@+-]{0,127}){1,29}/[A-Za-z0-9_@+-][A-Za-z0-9._@+-]{0,123}\.env)?$' \
  OPTIONAL_UNIT_PATTERN='^([A-Za-z0-9][A-Za-z0-9@._:-]{0,239}\.(service|target|mount))?$' \
  SECONDS_PATTERN='^([1-9][0-9]{0,2}|[1-2][0-9]{3}|3[0-5][0-9]{2}|3600)$' \
  FILESYSTEM_PATTERN='^(btrfs|ext4|xfs)$' \
  GROW_MODE_PATTERN='^(add-device|expand)$' \
  PATH_SEGMENT_PATTERN='^[A-Za-z0-9_@+-][A-Za-z0-9._@+-]{0,127}$' \
  PATH_MAX_SEGMENTS=32 \
  MAX_SET_VOLUMES=63 \
  GUARD_DROP_IN='10-berth-guard.conf' \
  SET_DROP_IN='50-berth-set.conf' \
  NETWORK_UNIT='berth-node-network.service' \
  NETWORK_SCRIPT='/etc/berth/node-network.sh' \
  ROUTE_TABLE=10100
# ---- end of berth contract ----
# Every validator below uses a contract pattern, so the host refuses exactly what SSM refuses.
is_volume_id() { [[ $1 =~ $VOLUME_ID_PATTERN ]]; }
is_eni_id() { [[ $1 =~ $OPTIONAL_ENI_PATTERN ]]; }
is_node_id() { [[ $1 =~ $NODE_ID_PATTERN ]]; }
is_unit() { [[ $1 =~ $OPTIONAL_UNIT_PATTERN ]]; }
# The path pattern checked one segment at a time (the whole-path regex is slow in bash's engine).
is_abs_path() {
  local rest=$1 segment count=0
  [[ $rest == /* ]] || return 1
  while [ -n "$rest" ]; do
    rest=${rest#/}
    segment=${rest%%/*}
    [[ $segment =~ $PATH_SEGMENT_PATTERN ]] || return 1
    rest=${rest:${#segment}}
    count=$((count + 1))
    [ "$count" -le "$PATH_MAX_SEGMENTS" ] || return 1
  done
}
is_device_name() { [[ $1 =~ $DEVICE_NAME_PATTERN ]]; }
is_ipv4() { [[ $1 =~ $OPTIONAL_IPV4_PATTERN ]]; }
is_mac() { [[ $1 =~ $OPTIONAL_MAC_PATTERN ]]; }
is_subnet_cidr() { [[ $1 =~ $OPTIONAL_SUBNET_CIDR_PATTERN ]]; }
is_env_file() { [[ $1 =~ $OPTIONAL_ENV_FILE_PATTERN ]]; }
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
# shellcheck disable=SC2034
NETWORK_MANAGER=${BERTH_NETWORK_MANAGER:-auto}
# The host lock and the fence live on tmpfs (/run): they describe this boot only (see below).
RUN_DIR=${BERTH_RUN_DIR:-$HOST_ROOT/run/berth}
LOCK_WAIT=${BERTH_LOCK_WAIT_SECONDS:-300}

check_settings() {
  is_abs_path "$DEVICE_DIR" || invalid "BERTH_DEVICE_DIR must be an absolute path: '$DEVICE_DIR'"
  is_abs_path "$DEV_DIR" || invalid "BERTH_DEV_DIR must be an absolute path: '$DEV_DIR'"
  [ -z "$HOST_ROOT" ] || is_abs_path "$HOST_ROOT" || invalid "BERTH_HOST_ROOT must be an absolute path: '$HOST_ROOT'"
  is_abs_path "$FSTAB" || invalid "BERTH_FSTAB must be an absolute path: '$FSTAB'"
  is_abs_path "$PROC_SYS" || invalid "BERTH_PROC_SYS must be an absolute path: '$PROC_SYS'"
  is_seconds "$DEVICE_WAIT" || invalid "BERTH_DEVICE_WAIT_SECONDS must be a number of seconds: '$DEVICE_WAIT'"
  is_seconds "$IFACE_WAIT" || invalid "BERTH_IFACE_WAIT_SECONDS must be a number of seconds: '$IFACE_WAIT'"
  is_abs_path "$RUN_DIR" || invalid "BERTH_RUN_DIR must be an absolute path: '$RUN_DIR'"
  is_seconds "$LOCK_WAIT" || invalid "BERTH_LOCK_WAIT_SECONDS must be a number of seconds: '$LOCK_WAIT'"
  [[ $SYSTEMCTL =~ ^[A-Za-z0-9._/-]+$ ]] || invalid "BERTH_SYSTEMCTL must be a command name or path: '$SYSTEMCTL'"
  [[ $NETWORK_MANAGER =~ ^(auto|berth|ec2-net-utils)$ ]] || invalid "BERTH_NETWORK_MANAGER must be auto, berth or ec2-net-utils: '$NETWORK_MANAGER'"
}

# --- the host lock and the fence ------------------------------------------------------------
# Two host steps can only collide here, on the host, so this is where they take turns: every
# script holds an exclusive flock on one lock file for its whole run (as package managers and
# cloud-init serialize themselves), so any number of commands sent at once by any number of runs
# execute one after another. The lock belongs to the open file: it ends when the script exits,
# however it exits (SSM's timeout kills it too), and is never removed by hand. The lock file is
# never deleted either: a new file would let a second script lock while the first holds the old.
LOCK_FILE=''
FENCE_FILE=''

# take_host_lock: waits up to LOCK_WAIT seconds for the host lock, else fails with code host-busy
# (exit 5) having done nothing. The wait is bounded by the document's execution timeout as well:
# SSM stops a script that outlives it, and the default wait (300 s) is half the default timeout.
take_host_lock() {
  local waited=$SECONDS holder
  LOCK_FILE=$RUN_DIR/host.lock
  FENCE_FILE=$RUN_DIR/quiesced
  mkdir -p -- "$RUN_DIR" || fail failed "cannot create $RUN_DIR for the host lock"
  # Opened for appending: opening must not truncate what the current holder wrote in it.
  exec 9>>"$LOCK_FILE" || fail failed "cannot open the host lock $LOCK_FILE"
  if ! flock -x -w "$LOCK_WAIT" 9; then
    holder=$(head -n1 -- "$LOCK_FILE" 2>/dev/null || true)
    fail host-busy "another berth step held the host lock $LOCK_FILE for ${LOCK_WAIT}s (${holder:-holder unknown}): nothing was done"
  fi
  printf '%s pid %s since %s\n' "$ACTION" "$$" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$LOCK_FILE"
  echo "$ACTION: host lock $LOCK_FILE taken after $((SECONDS - waited))s" >&2
}

# The fence: quiesce-node leaves it once the set has left this host, and prepare-node refuses to
# mount a set while it is there. It lives on tmpfs, so it lasts exactly this boot: the set is
# detached right after quiesce-node, and an instance that starts again (a warm pool's reuse, a
# stop and start) begins without it, with a new launch to prepare it. On the root disk it would
# outlive the boot, reach images made from this disk and block every later launch on them.
leave_fence() {
  printf 'quiesce-node released the set at %s on %s\n' "$MOUNT_POINT" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    >"$FENCE_FILE" || fail failed "cannot write the fence $FENCE_FILE"
}

# fenced: true (and FENCE_WHAT says what left it) when quiesce-node released this host's set.
FENCE_WHAT=''
# shellcheck disable=SC2034 # sets a global for the caller
fenced() {
  [ -e "$FENCE_FILE" ] || return 1
  FENCE_WHAT=$(head -n1 -- "$FENCE_FILE" 2>/dev/null || true)
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

# reject_arguments "$@": parameters come only from SSM_* variables; --help prints the usage.
reject_arguments() {
  [ "$#" -gt 0 ] || return 0
  usage
  case $1 in -h | --help) exit 0 ;; esac
  invalid "takes no arguments: parameters come from SSM_* environment variables"
}

# check_mount_point <path>: the MountPoint parameter, required, absolute and never /.
check_mount_point() {
  [ -n "$1" ] || invalid "MountPoint is required"
  is_abs_path "$1" || invalid "MountPoint must be an absolute path without '..', spaces or shell metacharacters: '$1'"
  [ "$1" != / ] || invalid "MountPoint must not be /"
}

# check_unit <unit or "">: the optional ServiceUnit parameter.
check_unit() {
  [ -z "$1" ] || is_unit "$1" || invalid "ServiceUnit must be a unit name ending in .service, .target or .mount: '$1'"
}
