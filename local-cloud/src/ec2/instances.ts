/** Instances, their types and their termination. */
import type {
  DescribeInstancesRequest,
  DescribeInstanceTypesRequest,
  Instance,
  InstanceTypeInfo,
  ModifyInstanceAttributeRequest,
  TerminateInstancesRequest,
} from '@aws-sdk/client-ec2';
import { fail } from '../errors';
import { compileFilters } from '../filters';
import { paginate } from '../paging';
import { INSTANCE_FILTERS } from './describe-filters';
import { instanceOut } from './outputs';
import { STATE_CODES, type InstanceRec, type VolAttach } from './records';
import type { Ec2State } from './state';
import type { LocalInstanceState, LocalInstanceType } from './types';

export interface RunInstanceOptions {
  subnetId: string;
  instanceType?: string;
  tags?: Record<string, string>;
  privateIp?: string;
  /** Root volume size in GiB (gp3, /dev/xvda, DeleteOnTermination true); `0` for none. @default 8 */
  rootVolumeGiB?: number;
}

/** RunInstances-like seeding: one instance, `pending` then `running` after `timing.instanceBootMs`. */
export function runInstance(s: Ec2State, options: RunInstanceOptions): string {
  return s.mutation(() => {
    s.settle();
    const subnet = s.subnets.get(options.subnetId);
    if (!subnet) throw new Error(`runInstance: unknown subnet ${options.subnetId}`);
    const instanceType = options.instanceType ?? 'm5.large';
    if (!s.settings.instanceTypes[instanceType])
      throw new Error(`runInstance: unknown instance type ${instanceType}`);
    const now = s.now();
    const eni = s.makeEni(subnet, options.privateIp, 'Primary network interface', new Map());
    const instance: InstanceRec = {
      id: s.newId('i-'),
      instanceType,
      subnet,
      privateIp: eni.privateIp,
      tags: new Map(Object.entries(options.tags ?? {})),
      state: 'pending',
      launchTime: now,
      reservationId: s.newId('r-'),
      devices: new Map(),
      enis: new Map(),
      transitionReason: '',
      heldDevices: new Map(),
    };
    if (s.settings.timing.consistencyMs > 0) instance.visibleAt = now + s.settings.timing.consistencyMs;
    s.instanceMap.set(instance.id, instance);
    s.linkEni(eni, instance, 0, true, 'attached', now);
    const rootGiB = options.rootVolumeGiB ?? 8;
    if (rootGiB > 0) {
      const root = s.makeVolume(
        { az: subnet.az, size: rootGiB, volumeType: 'gp3', encrypted: false, tags: new Map() },
        'in-use',
      );
      root.attachment = {
        instance,
        device: '/dev/xvda',
        state: 'attached',
        attachTime: now,
        deleteOnTermination: true,
      };
      instance.devices.set('/dev/xvda', root);
    }
    s.agenda.at(now + s.settings.timing.instanceBootMs, () => {
      if (instance.state === 'pending') instance.state = 'running';
    });
    return instance.id;
  });
}

/**
 * `shutting-down` now, `terminated` after `timing.instanceTerminateMs`; then volumes with
 * DeleteOnTermination are deleted, other volumes and ENIs detached (`available`), and ENIs with
 * DeleteOnTermination (the primary one) deleted. The instance stays visible for an hour
 * ("Terminated instances remain visible after termination (for approximately one hour)",
 * https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeInstances.html).
 */
export function terminateInstance(s: Ec2State, instanceId: string): void {
  return s.mutation(() => {
    s.settle();
    const instance = s.instanceMap.get(instanceId);
    if (!instance) throw new Error(`terminateInstance: unknown instance ${instanceId}`);
    beginTermination(s, instance);
  });
}

/**
 * Stops an instance behind the group's back (an operator, a failed host, a scheduled event):
 * `stopping` now, `stopped` after `timing.instanceTerminateMs`; its volumes and ENIs stay
 * attached (Amazon EC2 User Guide, "Stop and start Amazon EC2 instances": EBS volumes remain
 * attached). Auto Scaling's EC2 health check counts it as unhealthy and replaces it.
 */
export function stopInstance(s: Ec2State, instanceId: string): void {
  return s.mutation(() => {
    s.settle();
    const instance = s.instanceMap.get(instanceId);
    if (!instance) throw new Error(`stopInstance: unknown instance ${instanceId}`);
    if (instance.state !== 'running' && instance.state !== 'pending') return;
    instance.state = 'stopping';
    s.agenda.at(s.now() + s.settings.timing.instanceTerminateMs, () => {
      if (instance.state === 'stopping') instance.state = 'stopped';
    });
  });
}

export function describeInstances(
  s: Ec2State,
  input: Partial<DescribeInstancesRequest>,
): {
  Reservations: { ReservationId: string; OwnerId: string; Groups: []; Instances: Instance[] }[];
  NextToken?: string;
} {
  const ids = input.InstanceIds;
  // "You cannot specify this parameter and the instance IDs parameter in the same request."
  // (MaxResults, https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeInstances.html)
  if (ids && ids.length > 0 && input.MaxResults !== undefined) {
    throw fail(
      'InvalidParameterCombination',
      'The parameter instancesSet cannot be used with the parameter maxResults',
    );
  }
  const candidates =
    ids && ids.length > 0 ? lookupInstances(s, ids) : [...s.instanceMap.values()].filter((i) => !s.hidden(i));
  const match = compileFilters(input.Filters, INSTANCE_FILTERS);
  const { page, nextToken } = paginate(candidates.filter(match), input.MaxResults, input.NextToken, {
    min: 5,
    max: 1000,
  });
  return {
    Reservations: page.map((i) => ({
      ReservationId: i.reservationId,
      OwnerId: s.cloud.account,
      Groups: [],
      Instances: [instanceOut(s, i)],
    })),
    ...(nextToken ? { NextToken: nextToken } : {}),
  };
}

export function lookupInstances(s: Ec2State, ids: readonly string[]): InstanceRec[] {
  const missing: string[] = [];
  const found: InstanceRec[] = [];
  for (const id of ids) {
    s.checkInstanceId(id);
    const instance = s.instanceMap.get(id);
    if (instance && !s.hidden(instance)) found.push(instance);
    else missing.push(id);
  }
  if (missing.length === 1)
    throw fail('InvalidInstanceID.NotFound', `The instance ID '${missing[0]}' does not exist`);
  if (missing.length > 1)
    throw fail('InvalidInstanceID.NotFound', `The instance IDs '${missing.join(', ')}' do not exist`);
  return found;
}

export function describeInstanceTypes(
  s: Ec2State,
  input: Partial<DescribeInstanceTypesRequest>,
): {
  InstanceTypes: InstanceTypeInfo[];
} {
  // An empty list is sent as nothing: all types.
  const names = input.InstanceTypes?.length ? input.InstanceTypes : Object.keys(s.settings.instanceTypes);
  const unknown = names.filter((n) => !s.settings.instanceTypes[n]);
  if (unknown.length > 0) {
    throw fail(
      'InvalidInstanceType',
      `The following supplied instance types do not exist: [${unknown.join(', ')}]`,
    );
  }
  return {
    InstanceTypes: names.map((name) => {
      const t = s.settings.instanceTypes[name] as LocalInstanceType;
      return {
        InstanceType: name as InstanceTypeInfo['InstanceType'],
        CurrentGeneration: true,
        VCpuInfo: { DefaultVCpus: t.vcpus },
        MemoryInfo: { SizeInMiB: t.memoryMiB },
        ProcessorInfo: { SupportedArchitectures: [t.architecture] },
        Hypervisor: 'nitro',
        EbsInfo: {
          EbsOptimizedSupport: 'default',
          EncryptionSupport: 'supported',
          NvmeSupport: 'required',
          MaximumEbsAttachments: t.maximumEbsAttachments,
          AttachmentLimitType: t.attachmentLimitType,
        },
        NetworkInfo: {
          MaximumNetworkInterfaces: t.maximumNetworkInterfaces,
          MaximumNetworkCards: 1,
          DefaultNetworkCardIndex: 0,
        },
      };
    }),
  };
}

/**
 * Only `BlockDeviceMappings[].Ebs.DeleteOnTermination` is modelled ("To change the
 * DeleteOnTermination attribute of a volume attached to a running instance…",
 * https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_ModifyInstanceAttribute.html).
 */
export function modifyInstanceAttribute(
  s: Ec2State,
  input: Partial<ModifyInstanceAttributeRequest>,
): Record<string, never> {
  const instance = s.requireInstance(input.InstanceId);
  const mappings = input.BlockDeviceMappings;
  if (!mappings || mappings.length === 0) {
    throw fail(
      'UnsupportedOperation',
      'The local cloud models only BlockDeviceMappings in ModifyInstanceAttribute',
    );
  }
  const changes: [VolAttach, boolean][] = [];
  for (const mapping of mappings) {
    const device = mapping.DeviceName;
    if (!device)
      throw fail('MissingParameter', 'The request must contain the parameter blockDeviceMapping.deviceName');
    const volume = instance.devices.get(device);
    if (!volume?.attachment) {
      throw fail('InvalidInstanceAttributeValue', `No device is currently mapped at ${device}`);
    }
    if (mapping.Ebs?.VolumeId !== undefined && mapping.Ebs.VolumeId !== volume.id) {
      throw fail('InvalidParameterValue', `Volume ${mapping.Ebs.VolumeId} is not mapped at ${device}`);
    }
    if (mapping.Ebs?.DeleteOnTermination !== undefined)
      changes.push([volume.attachment, mapping.Ebs.DeleteOnTermination]);
  }
  for (const [attachment, value] of changes) attachment.deleteOnTermination = value;
  return {};
}

export function terminateInstances(
  s: Ec2State,
  input: Partial<TerminateInstancesRequest>,
): {
  TerminatingInstances: {
    InstanceId: string;
    CurrentState: { Code: number; Name: LocalInstanceState };
    PreviousState: { Code: number; Name: LocalInstanceState };
  }[];
} {
  const ids = input.InstanceIds ?? [];
  if (ids.length === 0) throw fail('MissingParameter', 'The request must contain the parameter InstanceId');
  const instances = lookupInstances(s, ids);
  return {
    TerminatingInstances: instances.map((instance) => {
      const previous = instance.state;
      beginTermination(s, instance);
      return {
        InstanceId: instance.id,
        CurrentState: { Code: STATE_CODES[instance.state], Name: instance.state },
        PreviousState: { Code: STATE_CODES[previous], Name: previous },
      };
    }),
  };
}

export function beginTermination(s: Ec2State, instance: InstanceRec): void {
  if (instance.state === 'shutting-down' || instance.state === 'terminated') return;
  instance.state = 'shutting-down';
  instance.transitionReason = `User initiated (${new Date(s.now())
    .toISOString()
    .replace(/\.\d{3}Z$/, ' GMT')
    .replace('T', ' ')})`;
  s.agenda.at(s.now() + s.settings.timing.instanceTerminateMs, (due) => finishTermination(s, instance, due));
}

export function finishTermination(s: Ec2State, instance: InstanceRec, at: number): void {
  instance.state = 'terminated';
  for (const volume of [...instance.devices.values()]) {
    const attachment = volume.attachment;
    instance.devices.delete(attachment?.device ?? '');
    if (!attachment || attachment.instance !== instance) continue;
    volume.attachment = undefined;
    if (attachment.deleteOnTermination) {
      if (attachment.device !== '/dev/xvda')
        s.settings.hooks.volumeDeleted?.(s.volumeView(volume), 'DeleteOnTermination');
      volume.state = 'deleted';
      s.volumeMap.delete(volume.id);
    } else {
      volume.state = 'available';
    }
  }
  instance.devices.clear();
  for (const eni of [...instance.enis.values()]) {
    const attachment = eni.attachment;
    if (attachment) s.eniByAttachment.delete(attachment.attachmentId);
    eni.attachment = undefined;
    eni.status = 'available';
    s.revision++;
    if (attachment?.deleteOnTermination) s.removeEni(eni);
    else if (attachment) s.settings.hooks.networkInterfaceDetached?.(s.eniView(eni), instance.id);
  }
  instance.enis.clear();
  s.revision++;
  s.settings.hooks.instanceTerminated?.(s.instanceView(instance));
  s.agenda.at(at + 3600_000, () => {
    if (s.instanceMap.get(instance.id) === instance) s.instanceMap.delete(instance.id);
  });
}
