/** The API output shapes built from the records (what the SDK deserializes). */
import type {
  Instance,
  NetworkInterface,
  Volume,
  VolumeAttachment,
  VolumeModification,
} from '@aws-sdk/client-ec2';
import {
  STATE_CODES,
  type EniRec,
  type InstanceRec,
  type ModRec,
  type VolAttach,
  type VolumeRec,
} from './records';
import type { Ec2State } from './state';
import { tagList } from './tags';

export function volumeOut(v: VolumeRec): Volume {
  const a = v.attachment;
  const out: Volume = {
    VolumeId: v.id,
    Size: v.size,
    SnapshotId: v.snapshotId ?? '',
    AvailabilityZone: v.az,
    State: v.state,
    CreateTime: new Date(v.createTime),
    Attachments: a ? [attachmentOut(v, a)] : [],
    Encrypted: v.encrypted,
    VolumeType: v.volumeType,
    MultiAttachEnabled: false,
  };
  // Conditional assignments, not object spreads: this runs for every item of every page.
  if (v.kmsKeyId) out.KmsKeyId = v.kmsKeyId;
  if (v.iops !== undefined) out.Iops = v.iops;
  if (v.throughput !== undefined) out.Throughput = v.throughput;
  if (v.tags.size > 0) out.Tags = tagList(v.tags);
  return out;
}

export function attachmentOut(v: VolumeRec, a: VolAttach): VolumeAttachment {
  return {
    VolumeId: v.id,
    InstanceId: a.instance.id,
    Device: a.device,
    State: a.state,
    AttachTime: new Date(a.attachTime),
    DeleteOnTermination: a.deleteOnTermination,
  };
}

export function modificationOut(volumeId: string, m: ModRec): VolumeModification {
  return {
    VolumeId: volumeId,
    ModificationState: m.state,
    StartTime: new Date(m.startTime),
    ...(m.endTime !== undefined ? { EndTime: new Date(m.endTime) } : {}),
    Progress: m.state === 'completed' ? 100 : m.state === 'optimizing' ? 50 : 0,
    OriginalSize: m.originalSize,
    TargetSize: m.targetSize,
    OriginalVolumeType: m.originalType,
    TargetVolumeType: m.targetType,
    ...(m.originalIops !== undefined ? { OriginalIops: m.originalIops } : {}),
    ...(m.targetIops !== undefined ? { TargetIops: m.targetIops } : {}),
    ...(m.originalThroughput !== undefined ? { OriginalThroughput: m.originalThroughput } : {}),
    ...(m.targetThroughput !== undefined ? { TargetThroughput: m.targetThroughput } : {}),
    OriginalMultiAttachEnabled: false,
    TargetMultiAttachEnabled: false,
  };
}

export function instanceOut(s: Ec2State, i: InstanceRec): Instance {
  const live = i.state !== 'terminated';
  return {
    InstanceId: i.id,
    ImageId: 'ami-0123456789abcdef0',
    InstanceType: i.instanceType as Instance['InstanceType'],
    State: { Code: STATE_CODES[i.state], Name: i.state },
    StateTransitionReason: i.transitionReason,
    Placement: { AvailabilityZone: i.subnet.az, Tenancy: 'default', GroupName: '' },
    ...(live
      ? {
          SubnetId: i.subnet.id,
          VpcId: i.subnet.vpcId,
          PrivateIpAddress: i.privateIp,
          PrivateDnsName: `ip-${i.privateIp.replace(/\./g, '-')}.${s.cloud.region}.compute.internal`,
        }
      : { PrivateDnsName: '' }),
    LaunchTime: new Date(i.launchTime),
    Architecture: s.settings.instanceTypes[i.instanceType]?.architecture,
    RootDeviceType: 'ebs',
    RootDeviceName: '/dev/xvda',
    Hypervisor: 'xen',
    VirtualizationType: 'hvm',
    EbsOptimized: true,
    ...(i.tags.size > 0 ? { Tags: tagList(i.tags) } : {}),
    BlockDeviceMappings: [...i.devices.entries()].map(([device, v]) => ({
      DeviceName: device,
      Ebs: {
        VolumeId: v.id,
        Status: v.attachment?.state ?? 'detached',
        AttachTime: new Date(v.attachment?.attachTime ?? 0),
        DeleteOnTermination: v.attachment?.deleteOnTermination ?? false,
      },
    })),
    NetworkInterfaces: [...i.enis.values()]
      .sort((a, b) => (a.attachment?.deviceIndex ?? 0) - (b.attachment?.deviceIndex ?? 0))
      .map((e) => ({
        NetworkInterfaceId: e.id,
        SubnetId: e.subnet.id,
        VpcId: e.subnet.vpcId,
        Description: e.description,
        OwnerId: s.cloud.account,
        Status: e.status,
        MacAddress: e.mac,
        PrivateIpAddress: e.privateIp,
        PrivateIpAddresses: [{ Primary: true, PrivateIpAddress: e.privateIp }],
        SourceDestCheck: true,
        InterfaceType: 'interface',
        Groups: [],
        Attachment: e.attachment && {
          AttachmentId: e.attachment.attachmentId,
          DeviceIndex: e.attachment.deviceIndex,
          Status: e.attachment.state,
          AttachTime: new Date(e.attachment.attachTime),
          DeleteOnTermination: e.attachment.deleteOnTermination,
          NetworkCardIndex: 0,
        },
      })),
  };
}

export function eniOut(s: Ec2State, e: EniRec): NetworkInterface {
  const a = e.attachment;
  return {
    NetworkInterfaceId: e.id,
    SubnetId: e.subnet.id,
    VpcId: e.subnet.vpcId,
    AvailabilityZone: e.subnet.az,
    AvailabilityZoneId: e.subnet.azId,
    Description: e.description,
    InterfaceType: 'interface',
    MacAddress: e.mac,
    OwnerId: s.cloud.account,
    PrivateIpAddress: e.privateIp,
    PrivateDnsName: `ip-${e.privateIp.replace(/\./g, '-')}.${s.cloud.region}.compute.internal`,
    PrivateIpAddresses: [{ Primary: true, PrivateIpAddress: e.privateIp }],
    RequesterManaged: false,
    SourceDestCheck: true,
    Status: e.status,
    Groups: [],
    TagSet: tagList(e.tags),
    ...(a
      ? {
          Attachment: {
            AttachmentId: a.attachmentId,
            InstanceId: a.instance.id,
            InstanceOwnerId: s.cloud.account,
            DeviceIndex: a.deviceIndex,
            NetworkCardIndex: 0,
            Status: a.state,
            AttachTime: new Date(a.attachTime),
            DeleteOnTermination: a.deleteOnTermination,
          },
        }
      : {}),
  };
}
