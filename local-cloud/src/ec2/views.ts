/** The read-only views tests and the other models read (cached and frozen by Ec2State). */
import type { EniRec, InstanceRec, VolumeRec } from './records';
import type { LocalInstance, LocalNetworkInterface, LocalVolume } from './types';

export function buildVolumeView(v: VolumeRec): LocalVolume {
  const a = v.attachment;
  const view: LocalVolume = {
    volumeId: v.id,
    state: v.state,
    size: v.size,
    availabilityZone: v.az,
    tags: Object.fromEntries(v.tags),
    attachments: a
      ? [
          {
            instanceId: a.instance.id,
            device: a.device,
            state: a.state,
            deleteOnTermination: a.deleteOnTermination,
            attachTime: a.attachTime,
          },
        ]
      : [],
    encrypted: v.encrypted,
    volumeType: v.volumeType,
  };
  if (v.iops !== undefined) view.iops = v.iops;
  if (v.throughput !== undefined) view.throughput = v.throughput;
  if (v.kmsKeyId !== undefined) view.kmsKeyId = v.kmsKeyId;
  if (v.snapshotId !== undefined) view.snapshotId = v.snapshotId;
  const last = v.modifications[v.modifications.length - 1];
  if (last) view.modification = { state: last.state, targetSize: last.targetSize, startTime: last.startTime };
  return view;
}

export function buildInstanceView(i: InstanceRec): LocalInstance {
  return {
    instanceId: i.id,
    state: i.state,
    instanceType: i.instanceType,
    availabilityZone: i.subnet.az,
    subnetId: i.subnet.id,
    vpcId: i.subnet.vpcId,
    privateIp: i.privateIp,
    tags: Object.fromEntries(i.tags),
    volumes: [...i.devices.entries()].map(([device, v]) => ({
      volumeId: v.id,
      device,
      state: v.attachment?.state ?? 'detached',
      deleteOnTermination: v.attachment?.deleteOnTermination ?? false,
    })),
    networkInterfaces: [...i.enis.entries()]
      .sort(([a], [b]) => a - b)
      .map(([deviceIndex, e]) => ({
        networkInterfaceId: e.id,
        deviceIndex,
        privateIp: e.privateIp,
        state: e.attachment?.state ?? 'detached',
      })),
  };
}

export function buildEniView(e: EniRec): LocalNetworkInterface {
  const a = e.attachment;
  return {
    networkInterfaceId: e.id,
    state: e.status,
    subnetId: e.subnet.id,
    vpcId: e.subnet.vpcId,
    availabilityZone: e.subnet.az,
    privateIp: e.privateIp,
    macAddress: e.mac,
    description: e.description,
    tags: Object.fromEntries(e.tags),
    ...(a
      ? {
          attachment: {
            attachmentId: a.attachmentId,
            instanceId: a.instance.id,
            deviceIndex: a.deviceIndex,
            state: a.state,
            deleteOnTermination: a.deleteOnTermination,
          },
        }
      : {}),
  };
}
