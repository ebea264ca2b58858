#!/usr/bin/env bash
# berth quiesce-node: make the node's set (volumes and ENI) safe to detach.
#
# Stops the service unit if one is given, syncs, and unmounts the mount point, retrying while it
# is busy for at most TimeoutSeconds. When it stays busy, reports the processes that hold it
# (fuser, else lsof) and fails: the caller must then not detach a mounted volume. Never unmounts
# lazily or by force. Once unmounted, takes the set's IP down (the network script prepare-node
# wrote, with 'down') and removes what prepare-node wrote for the set: the network unit and
# script, the unit's set drop-in. The unit's guard drop-in stays: this host never starts the
# service on the bare mount point. Nothing mounted is success (safe to run twice).
# On success it leaves the fence: a later prepare-node on this host refuses to mount a set again
# (until the next boot). Runs under the host lock: one berth step at a time on this host.
#
# Parameters (environment, delivered by SSM Run Command with interpolationType ENV_VAR;
# an empty value means "not given"):
#   SSM_MountPoint      absolute path (required)
#   SSM_ServiceUnit     systemd unit to stop first (optional)
#   SSM_TimeoutSeconds  how long to retry a busy unmount, 0 to 3600 (optional, default 60)
# Host overrides (optional):
#   BERTH_HOST_ROOT ("")  BERTH_SYSTEMCTL (systemctl)
#   BERTH_RUN_DIR ($BERTH_HOST_ROOT/run/berth: the host lock host.lock and the fence quiesced;
#   tmpfs)  BERTH_LOCK_WAIT_SECONDS (300: the longest wait for the host lock)
# Output: the last (only) stdout line is one JSON object: {"ok":true,"action":"quiesce-node",...}
# or {"ok":false,"action":"quiesce-node","code":…,"error":…,"holders":[…]}; messages go to stderr.
#   ok:true fields: mountPoint, wasMounted, unmounted, unit (stopped|stop-failed|none), and when it
#   unmounted: source, attempts; network (down|none: no network script of berth's was here).
#   code "busy" (exit 4) carries holders: [{"pid":…,"command":…}].
#   code "host-busy" (exit 5): another berth step held the host lock past BERTH_LOCK_WAIT_SECONDS;
#   nothing was done.
# Exit status: 0 done, 1 failed, 2 invalid parameter, 4 still busy, 5 host busy.
set -euo pipefail
set -o errtrace
readonly ACTION=quiesce-node

# shellcheck source-path=SCRIPTDIR source=include/common.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/include/common.sh" # berth:include (synth puts the file here)

# --- parameters ---------------------------------------------------------------------------------
MOUNT_POINT=${SSM_MountPoint:-}
SERVICE_UNIT=${SSM_ServiceUnit:-}
TIMEOUT=${SSM_TimeoutSeconds:-60}

check_parameters() {
  check_mount_point "$MOUNT_POINT"
  check_unit "$SERVICE_UNIT"
  [[ $TIMEOUT =~ $SECONDS_PATTERN ]] || invalid "TimeoutSeconds must be a number of seconds from 1 to 3600: '$TIMEOUT'"
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

# The set leaves this host: its IP goes down and the files prepare-node wrote for it go.
release_set_files() {
  local script=$HOST_ROOT$NETWORK_SCRIPT systemd=$HOST_ROOT/etc/systemd/system
  NET_STATE=none
  if [ -f "$script" ]; then
    bash -- "$script" down || fail failed "could not take the set's IP down ($NETWORK_SCRIPT down; see the lines above)"
    NET_STATE=down
  fi
  rm -f -- "$systemd/multi-user.target.wants/$NETWORK_UNIT" "$systemd/$NETWORK_UNIT" "$script"
  [ -z "$SERVICE_UNIT" ] || rm -f -- "$systemd/$SERVICE_UNIT.d/$SET_DROP_IN"
  if command -v "$SYSTEMCTL" >/dev/null 2>&1; then
    "$SYSTEMCTL" daemon-reload </dev/null || warn "'$SYSTEMCTL daemon-reload' failed; the files are removed"
  fi
}

main() {
  local target deadline attempts=0 source error='' holders
  reject_arguments "$@"
  check_settings
  check_parameters
  take_host_lock
  target=$HOST_ROOT$MOUNT_POINT
  stop_unit
  source=$(mounted_source "$target")
  if [ -z "$source" ]; then
    sync
    release_set_files
    leave_fence
    succeed "$(printf '"mountPoint":%s,"wasMounted":false,"unmounted":false,"unit":%s,"network":%s' \
      "$(json_string "$MOUNT_POINT")" "$(json_string "$UNIT_STATE")" "$(json_string "$NET_STATE")")"
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
  release_set_files
  leave_fence
  succeed "$(printf '"mountPoint":%s,"wasMounted":true,"unmounted":true,"source":%s,"attempts":%s,"unit":%s,"network":%s' \
    "$(json_string "$MOUNT_POINT")" "$(json_string "$source")" "$attempts" "$(json_string "$UNIT_STATE")" \
    "$(json_string "$NET_STATE")")"
}

main "$@"
