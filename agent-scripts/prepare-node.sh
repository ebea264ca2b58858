#!/usr/bin/env bash
# berth prepare-node: make the node's berth usable on this instance once its volumes are attached.
#
# Finds each volume of the set by its id, makes a filesystem only when EVERY volume is blank (a
# multi-volume blank set becomes one multi-device btrfs), refuses a set that mixes blank and data
# volumes or carries a foreign signature, refuses a btrfs with a member missing (never mounts it
# degraded), mounts by UUID, persists the mount in fstab (by UUID, nofail, never duplicated),
# writes the environment file atomically, brings the set's ENI up (found by its MAC: the address,
# source-based policy routing in its own table, rp_filter=2; a boot unit re-applies it after a
# reboot; on a host whose ec2-net-utils configures ENIs itself, it only verifies), gives the
# service unit its drop-ins (never started on the bare mount point; requires the mount; after the
# network) and starts it if one is given.
# Runs under the host lock (one berth step at a time on this host, whoever sent it) and refuses
# to act on a host that quiesce-node released (the fence): its set is being detached.
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
#   SSM_NodeIp              the ENI's primary private IPv4 (optional; needs the next two)
#   SSM_NodeMac             the ENI's MAC address, lowercase (how its interface is found)
#   SSM_NodeSubnetCidr      the CIDR of the ENI's subnet (prefix length; its .1 is the VPC router)
#   SSM_EnvFile             the environment file, a *.env file at least one directory below /etc,
#                           /run, /var/lib, /opt or /srv, outside the mount point (optional: none
#                           written when empty)
#   SSM_ServiceUnit         systemd unit to start once mounted (optional)
# Host overrides (optional):
#   BERTH_DEVICE_DIR (/dev/disk/by-id)  BERTH_DEV_DIR (/dev: where /dev/sdf or /dev/xvdf appears)
#   BERTH_HOST_ROOT ("")  BERTH_FSTAB ($BERTH_HOST_ROOT/etc/fstab)
#   BERTH_DEVICE_WAIT_SECONDS (60)  BERTH_IFACE_WAIT_SECONDS (30)  BERTH_SYSTEMCTL (systemctl)
#   BERTH_PROC_SYS (/proc/sys: where net/ipv4/conf/<interface>/rp_filter lives)
#   BERTH_NETWORK_MANAGER (auto: berth configures the ENI unless ec2-net-utils is installed;
#   berth; ec2-net-utils)
#   BERTH_RUN_DIR ($BERTH_HOST_ROOT/run/berth: the host lock host.lock and the fence quiesced;
#   tmpfs)  BERTH_LOCK_WAIT_SECONDS (300: the longest wait for the host lock)
# Output: the last (only) stdout line is one JSON object: {"ok":true,"action":"prepare-node",...}
# or {"ok":false,"action":"prepare-node","code":…,"error":…}; messages go to stderr.
#   ok:true fields: formatted (bool), filesystem, uuid, volumeIds, devices, sizeBytes, mountPoint,
#   mount (mounted|already-mounted), fstab (added|replaced|unchanged), envFile (written|unchanged|
#   none), network (configured|ec2-net-utils|none), interface (its name, or ""), networkUnit
#   (written|unchanged|none), dropIns (written|unchanged|none), unit (started|none).
#   No interface with NodeMac after BERTH_IFACE_WAIT_SECONDS is a failure: the ENI is attached.
#   code "refused" (exit 3) also when quiesce-node released this host's set (the fence).
#   code "host-busy" (exit 5): another berth step held the host lock past BERTH_LOCK_WAIT_SECONDS;
#   nothing was done.
# Exit status: 0 done, 1 failed, 2 invalid parameter, 3 refused (unsafe to act), 5 host busy.
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
NODE_MAC=${SSM_NodeMac:-}
SUBNET_CIDR=${SSM_NodeSubnetCidr:-}
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
  [ -z "$NODE_MAC" ] || is_mac "$NODE_MAC" || invalid "NodeMac is not a lowercase MAC address such as 0a:1b:2c:3d:4e:5f: '$NODE_MAC'"
  [ -z "$SUBNET_CIDR" ] || is_subnet_cidr "$SUBNET_CIDR" || invalid "NodeSubnetCidr is not a subnet CIDR from /16 to /28 (10.0.1.0/24): '$SUBNET_CIDR'"
  if [ -n "$NODE_IP" ]; then
    [ -n "$NODE_MAC" ] || invalid "NodeMac is required with NodeIp: the host finds the set's interface by its MAC"
    [ -n "$SUBNET_CIDR" ] || invalid "NodeSubnetCidr is required with NodeIp: the set's route table needs the subnet and its router"
    in_subnet "$NODE_IP" "$SUBNET_CIDR" || invalid "NodeSubnetCidr $SUBNET_CIDR does not hold NodeIp $NODE_IP"
  fi
  if [ -n "$ENV_FILE" ]; then
    is_env_file "$ENV_FILE" || invalid "EnvFile must be a *.env file at least one directory below /etc, /run, /var/lib, /opt or /srv (such as /etc/berth/node.env): '$ENV_FILE'"
    case $ENV_FILE/ in
      "$MOUNT_POINT"/*) invalid "EnvFile $ENV_FILE is inside the mount point $MOUNT_POINT: put it outside, such as /etc/berth/node.env" ;;
    esac
  fi
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
    refuse_missing_members
  fi
  if ! mount -t "$FILESYSTEM" "UUID=$FS_UUID" "$target" </dev/null; then
    if [ "$FILESYSTEM" = btrfs ]; then btrfs filesystem show "$FS_UUID" || true; fi
    fail failed "could not mount UUID=$FS_UUID ($FILESYSTEM) at $target"
  fi
}

# A btrfs with a member missing mounts only with -o degraded, and then writes single-profile chunks
# on the devices left: once the member is back, the two halves disagree. berth never mounts it so;
# the set's volume is missing (not attached yet, or lost), and what to do is the operator's call:
# attach it again (the reconciler heals a half-attached set), or, if it is gone for good, mount it
# degraded by hand and drop or replace the lost device (btrfs' own tools), then reconcile.
refuse_missing_members() {
  local show total found
  show=$(btrfs filesystem show "$FS_UUID" 2>&1 || true)
  total=$(awk '/Total devices/ { print $3; exit }' <<<"$show")
  found=$(grep -c '^[[:space:]]*devid .* path /' <<<"$show" || true)
  if grep -q 'Some devices missing' <<<"$show" || { [ -n "$total" ] && [ "$found" -lt "$total" ]; }; then
    fail refused "btrfs $FS_UUID has ${total:-?} devices and only ${found:-0} are here (volumes given: ${VOLUME_IDS[*]}): refusing to mount it degraded; attach the missing volume of the set (the reconciler does so for a half-attached set) or, if it is lost, recover by hand (mount it degraded and drop the lost device from it) before berth prepares the node again" \
      "\"missingDevices\":$((${total:-0} - ${found:-0}))"
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
}

# --- files berth owns on the host -------------------------------------------------------------
# write_host_file <path below the host root> <mode> <content>: replaces the file by rename when its
# content differs (a reader never sees half a file); sets WROTE to 1 when it wrote, else 0.
write_host_file() {
  local path=$HOST_ROOT$1 mode=$2 content=$3 dir tmp
  WROTE=0
  if [ -f "$path" ] && [ ! -L "$path" ] && [ "$(cat -- "$path")" = "$content" ]; then return 0; fi
  dir=$(dirname -- "$path")
  mkdir -p -- "$dir"
  tmp=$(mktemp "$dir/.$(basename -- "$path").berth.XXXXXX")
  printf '%s\n' "$content" >"$tmp"
  chmod "$mode" "$tmp"
  mv -f -- "$tmp" "$path"
  WROTE=1
}

# state_of <wrote count>: written when any file was written, else unchanged.
state_of() { if [ "$1" -gt 0 ]; then echo written; else echo unchanged; fi; }

write_env_file() {
  ENV_STATE=none
  [ -n "$ENV_FILE" ] || return 0
  write_host_file "$ENV_FILE" 0644 "$(printf '%s\n' \
    "NODE_ID=$NODE_ID" \
    "NODE_IP=$NODE_IP" \
    "VOLUME_IDS=$(
      IFS=,
      echo "${VOLUME_IDS[*]}"
    )" \
    "NETWORK_INTERFACE_ID=$ENI_ID" \
    "MOUNT_POINT=$MOUNT_POINT")"
  ENV_STATE=$(state_of "$WROTE")
}

# --- the set's network interface ----------------------------------------------------------------
ip_number() {
  local a b c d
  IFS=. read -r a b c d <<<"$1"
  echo $(((10#$a << 24) | (10#$b << 16) | (10#$c << 8) | 10#$d))
}

dotted() { echo "$(($1 >> 24 & 255)).$(($1 >> 16 & 255)).$(($1 >> 8 & 255)).$(($1 & 255))"; }

# in_subnet <ip> <cidr>
in_subnet() {
  local bits=${2#*/} mask
  mask=$(((0xffffffff << (32 - bits)) & 0xffffffff))
  [ $(($(ip_number "$1") & mask)) -eq $(($(ip_number "${2%/*}") & mask)) ]
}

# interface_with_mac <mac>: the interface that has the MAC in this network namespace ("" if none).
interface_with_mac() {
  ip -o link show | awk -v mac="$1" '{
    for (i = 3; i < NF; i++) if ($i == "link/ether" && $(i + 1) == mac) {
      name = $2; sub(/:$/, "", name); sub(/@.*/, "", name); print name; exit
    }
  }'
}

has_address() { ip -o -4 addr show dev "$1" | awk -v ip="$2" '{ split($4, a, "/"); if (a[1] == ip) found = 1 } END { exit !found }'; }

# Amazon Linux's amazon-ec2-net-utils configures every hot-plugged ENI with policy routing itself
# (its policy-routes@ unit); berth then verifies and leaves the interface to it.
host_configures_enis() {
  local unit
  case $NETWORK_MANAGER in
    berth) return 1 ;;
    ec2-net-utils) return 0 ;;
  esac
  for unit in /usr/lib/systemd/system/policy-routes@.service /lib/systemd/system/policy-routes@.service; do
    [ ! -e "$HOST_ROOT$unit" ] || return 0
  done
  return 1
}

# The script the boot unit runs, with the set's values written in (each one checked against its
# contract pattern above, so none can carry shell syntax). `up` is idempotent; `down` undoes it.
network_script() {
  local prefix=${SUBNET_CIDR#*/} network gateway
  network=$(($(ip_number "${SUBNET_CIDR%/*}") & ((0xffffffff << (32 - prefix)) & 0xffffffff)))
  # The VPC router is the subnet's base address + 1 (Amazon VPC User Guide, "Subnet CIDR blocks").
  gateway=$(dotted $((network + 1)))
  cat <<SCRIPT
#!/usr/bin/env bash
# berth: the set's stable IP ($NODE_IP, ENI ${ENI_ID:-?}, MAC $NODE_MAC) with source-based policy
# routing in table $ROUTE_TABLE, so that replies leave through the ENI that owns the address (EC2's
# source/destination check drops them on any other interface). Written by prepare-node, run at
# boot by $NETWORK_UNIT; quiesce-node runs 'down' and removes it when the set leaves.
set -euo pipefail
mac=$NODE_MAC address=$NODE_IP prefix=$prefix subnet=$(dotted "$network")/$prefix gateway=$gateway table=$ROUTE_TABLE
proc_sys=$PROC_SYS
iface=\$(ip -o link show | awk -v mac="\$mac" '{ for (i = 3; i < NF; i++) if (\$i == "link/ether" && \$(i + 1) == mac) { n = \$2; sub(/:\$/, "", n); sub(/@.*/, "", n); print n; exit } }')
has_rule() { ip -4 rule show | awk -v from="from \$address lookup \$table" '{ \$1 = ""; sub(/^ /, ""); if (\$0 == from) found = 1 } END { exit !found }'; }
case \${1:-up} in
  up)
    [ -n "\$iface" ] || { echo "berth-node-network: no interface has MAC \$mac" >&2; exit 1; }
    ip link set dev "\$iface" up
    # noprefixroute: the subnet's route lives in the set's table only, so traffic of the primary
    # address never leaves through the ENI when both interfaces share a subnet.
    ip addr replace "\$address/\$prefix" dev "\$iface" noprefixroute
    ip route replace "\$subnet" dev "\$iface" src "\$address" table "\$table"
    ip route replace default via "\$gateway" dev "\$iface" table "\$table"
    has_rule || ip rule add from "\$address" lookup "\$table" priority "\$table"
    printf '2\\n' >"\$proc_sys/net/ipv4/conf/\$iface/rp_filter"
    ;;
  down)
    while has_rule; do ip rule del from "\$address" lookup "\$table"; done
    ip route flush table "\$table" 2>/dev/null || true
    if [ -n "\$iface" ]; then
      ip addr del "\$address/\$prefix" dev "\$iface" 2>/dev/null || true
      ip link set dev "\$iface" down
    fi
    ;;
  *) echo "usage: \$0 up|down" >&2; exit 2 ;;
esac
SCRIPT
}

network_unit() {
  cat <<UNIT
[Unit]
Description=berth: the set's stable IP $NODE_IP (ENI ${ENI_ID:-?}, MAC $NODE_MAC)
After=network.target
Before=network-online.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/bin/env bash $NETWORK_SCRIPT up
ExecStop=/usr/bin/env bash $NETWORK_SCRIPT down

[Install]
WantedBy=multi-user.target
UNIT
}

configure_network() {
  local deadline iface='' wrote=0 systemd=$HOST_ROOT/etc/systemd/system
  NET_STATE=none NET_IFACE='' NET_UNIT_STATE=none
  [ -n "$NODE_IP" ] || return 0
  deadline=$((SECONDS + IFACE_WAIT))
  until iface=$(interface_with_mac "$NODE_MAC") && [ -n "$iface" ]; do
    [ "$SECONDS" -lt "$deadline" ] ||
      fail failed "no interface has MAC $NODE_MAC (the set's ENI ${ENI_ID:-?} for $NODE_IP) after ${IFACE_WAIT}s, although it is attached; interfaces here: $(ip -o link show | awk '{ print $2 }' | paste -sd' ' -)"
    sleep 1
  done
  NET_IFACE=$iface
  if host_configures_enis; then
    until has_address "$iface" "$NODE_IP"; do
      [ "$SECONDS" -lt "$deadline" ] ||
        fail failed "ec2-net-utils manages ENIs on this host, but $iface (MAC $NODE_MAC) has no $NODE_IP after ${IFACE_WAIT}s: check 'systemctl status policy-routes@$iface'"
      sleep 1
    done
    NET_STATE=ec2-net-utils
    return 0
  fi
  write_host_file "$NETWORK_SCRIPT" 0755 "$(network_script)"
  wrote=$((wrote + WROTE))
  write_host_file "/etc/systemd/system/$NETWORK_UNIT" 0644 "$(network_unit)"
  wrote=$((wrote + WROTE))
  # Enabled the way `systemctl enable` does it, so that no running systemd is needed here.
  mkdir -p -- "$systemd/multi-user.target.wants"
  if [ "$(readlink -- "$systemd/multi-user.target.wants/$NETWORK_UNIT" || true)" != "/etc/systemd/system/$NETWORK_UNIT" ]; then
    ln -sfn -- "/etc/systemd/system/$NETWORK_UNIT" "$systemd/multi-user.target.wants/$NETWORK_UNIT"
    wrote=$((wrote + 1))
  fi
  NET_UNIT_STATE=$(state_of "$wrote")
  bash -- "$HOST_ROOT$NETWORK_SCRIPT" up || fail failed "could not bring $iface up with $NODE_IP/${SUBNET_CIDR#*/} (see the lines above)"
  NET_STATE=configured
}

# --- the service unit ---------------------------------------------------------------------------
# The guard stays for good; the set's drop-in goes with the set (quiesce-node).
write_drop_ins() {
  local dir="/etc/systemd/system/$SERVICE_UNIT.d" wrote=0 set_drop_in
  DROP_IN_STATE=none
  [ -n "$SERVICE_UNIT" ] || return 0
  write_host_file "$dir/$GUARD_DROP_IN" 0644 "$(printf '[Unit]\nAssertPathIsMountPoint=%s' "$MOUNT_POINT")"
  wrote=$((wrote + WROTE))
  set_drop_in=$(printf '[Unit]\nRequiresMountsFor=%s' "$MOUNT_POINT")
  if [ "$NET_STATE" = configured ]; then
    set_drop_in+=$(printf '\nWants=%s\nAfter=%s' "$NETWORK_UNIT" "$NETWORK_UNIT")
  fi
  write_host_file "$dir/$SET_DROP_IN" 0644 "$set_drop_in"
  wrote=$((wrote + WROTE))
  DROP_IN_STATE=$(state_of "$wrote")
}

# systemd reads fstab and unit files again (not fatal where no systemd runs).
reload_systemd() {
  if command -v "$SYSTEMCTL" >/dev/null 2>&1; then
    "$SYSTEMCTL" daemon-reload </dev/null || warn "'$SYSTEMCTL daemon-reload' failed; the files are written"
  else
    warn "'$SYSTEMCTL' not found: skipped daemon-reload"
  fi
}

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
  take_host_lock
  if fenced; then
    fail refused "quiesce-node released this host's set (${FENCE_WHAT:-$FENCE_FILE}): refusing to mount a set on an instance whose set is being detached"
  fi
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
  configure_network
  write_drop_ins
  # systemd turns fstab into mount units and reads unit files: one reload when any of them changed.
  if [ "$FSTAB_STATE" != unchanged ] || [ "$DROP_IN_STATE" = written ] || [ "$NET_UNIT_STATE" = written ]; then
    reload_systemd
  fi
  start_unit
  size=$(df -B1 --output=size -- "$HOST_ROOT$MOUNT_POINT" | tail -n1 | tr -d ' ')

  succeed "$(printf '"formatted":%s,"filesystem":%s,"uuid":%s,"volumeIds":%s,"devices":%s,"sizeBytes":%s,"mountPoint":%s,"mount":%s,"fstab":%s,"envFile":%s,"network":%s,"interface":%s,"networkUnit":%s,"dropIns":%s,"unit":%s' \
    "$formatted" "$(json_string "$FILESYSTEM")" "$(json_string "$FS_UUID")" \
    "$(json_array "${VOLUME_IDS[@]}")" "$(json_array "${DEVICES[@]}")" "$size" \
    "$(json_string "$MOUNT_POINT")" "$(json_string "$MOUNT_STATE")" "$(json_string "$FSTAB_STATE")" \
    "$(json_string "$ENV_STATE")" "$(json_string "$NET_STATE")" "$(json_string "$NET_IFACE")" \
    "$(json_string "$NET_UNIT_STATE")" "$(json_string "$DROP_IN_STATE")" "$(json_string "$UNIT_STATE")")"
}

main "$@"
