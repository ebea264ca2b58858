/** Filters per operation (names from each Describe* page of the EC2 API reference). */
import type { FilterSpec } from '../filters';
import { STATE_CODES, type EniRec, type InstanceRec, type VolumeRec } from './records';

const iso = (t: number | undefined): string | undefined =>
  t === undefined ? undefined : new Date(t).toISOString();

/** https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeVolumes.html */
export const VOLUME_FILTERS: FilterSpec<VolumeRec> = {
  operation: 'DescribeVolumes',
  fields: {
    'attachment.attach-time': (v) => iso(v.attachment?.attachTime),
    'attachment.delete-on-termination': (v) => v.attachment?.deleteOnTermination,
    'attachment.device': (v) => v.attachment?.device,
    'attachment.instance-id': (v) => v.attachment?.instance.id,
    'attachment.status': (v) => v.attachment?.state,
    'availability-zone': (v) => v.az,
    'create-time': (v) => iso(v.createTime),
    encrypted: (v) => v.encrypted,
    'kms-key-id': (v) => v.kmsKeyId,
    'multi-attach-enabled': () => false,
    'fast-restored': () => false,
    size: (v) => v.size,
    'snapshot-id': (v) => v.snapshotId,
    status: (v) => v.state,
    'volume-id': (v) => v.id,
    'volume-type': (v) => v.volumeType,
  },
  tags: (v) => v.tags,
};

/** https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeInstances.html */
export const INSTANCE_FILTERS: FilterSpec<InstanceRec> = {
  operation: 'DescribeInstances',
  fields: {
    'availability-zone': (i) => i.subnet.az,
    'block-device-mapping.attach-time': (i) =>
      [...i.devices.values()].map((v) => iso(v.attachment?.attachTime)),
    'block-device-mapping.delete-on-termination': (i) =>
      [...i.devices.values()].map((v) => v.attachment?.deleteOnTermination),
    'block-device-mapping.device-name': (i) => [...i.devices.keys()],
    'block-device-mapping.status': (i) => [...i.devices.values()].map((v) => v.attachment?.state),
    'block-device-mapping.volume-id': (i) => [...i.devices.values()].map((v) => v.id),
    'image-id': () => 'ami-0123456789abcdef0',
    'instance-id': (i) => i.id,
    'instance-state-code': (i) => STATE_CODES[i.state],
    'instance-state-name': (i) => i.state,
    'instance-type': (i) => i.instanceType,
    'launch-time': (i) => iso(i.launchTime),
    'network-interface.network-interface-id': (i) => [...i.enis.values()].map((e) => e.id),
    'network-interface.attachment.device-index': (i) => [...i.enis.keys()],
    'network-interface.attachment.status': (i) => [...i.enis.values()].map((e) => e.attachment?.state),
    'network-interface.addresses.private-ip-address': (i) => [...i.enis.values()].map((e) => e.privateIp),
    'network-interface.subnet-id': (i) => [...i.enis.values()].map((e) => e.subnet.id),
    'private-ip-address': (i) => (i.state === 'terminated' ? undefined : i.privateIp),
    'reservation-id': (i) => i.reservationId,
    'root-device-name': () => '/dev/xvda',
    'root-device-type': () => 'ebs',
    'subnet-id': (i) => (i.state === 'terminated' ? undefined : i.subnet.id),
    'vpc-id': (i) => (i.state === 'terminated' ? undefined : i.subnet.vpcId),
    'owner-id': () => undefined,
  },
  tags: (i) => i.tags,
};

/** https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeNetworkInterfaces.html */
export const ENI_FILTERS: FilterSpec<EniRec> = {
  operation: 'DescribeNetworkInterfaces',
  fields: {
    'addresses.private-ip-address': (e) => e.privateIp,
    'addresses.primary': () => true,
    'attachment.attachment-id': (e) => e.attachment?.attachmentId,
    'attachment.attach-time': (e) => iso(e.attachment?.attachTime),
    'attachment.delete-on-termination': (e) => e.attachment?.deleteOnTermination,
    'attachment.device-index': (e) => e.attachment?.deviceIndex,
    'attachment.instance-id': (e) => e.attachment?.instance.id,
    'attachment.status': (e) => e.attachment?.state,
    'availability-zone': (e) => e.subnet.az,
    description: (e) => e.description,
    'interface-type': () => 'interface',
    'mac-address': (e) => e.mac,
    'network-interface-id': (e) => e.id,
    'private-ip-address': (e) => e.privateIp,
    'private-dns-name': (e) => `ip-${e.privateIp.replace(/\./g, '-')}`,
    'requester-managed': () => false,
    'source-dest-check': () => true,
    status: (e) => e.status,
    'subnet-id': (e) => e.subnet.id,
    'vpc-id': (e) => e.subnet.vpcId,
  },
  tags: (e) => e.tags,
};
