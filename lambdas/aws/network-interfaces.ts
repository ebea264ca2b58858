/**
 * Network interface attachments (a set's ENI): describe, attach at a device index, wait, detach.
 * Every helper treats "already in the desired state" as success, so a retried run resumes cleanly.
 */
import {
  AttachNetworkInterfaceCommand,
  DescribeNetworkInterfacesCommand,
  DescribeSubnetsCommand,
  DetachNetworkInterfaceCommand,
  type NetworkInterface,
} from '@aws-sdk/client-ec2';
import { ContestedError } from './calls';
import type { Deps } from '../shared/deps';
import { classify, errorName, FinalError, isNotFound } from '../shared/errors';
import { poll, waitForResource } from '../shared/poll';

type Ec2Deps = Pick<Deps, 'ec2' | 'clock' | 'settings' | 'logger'>;

/** One network interface, or `undefined` when it does not exist. */
export async function describeInterface(
  deps: Pick<Deps, 'ec2' | 'clock'>,
  networkInterfaceId: string,
): Promise<NetworkInterface | undefined> {
  try {
    const out = await deps.ec2.send(
      new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: [networkInterfaceId] }),
    );
    return out.NetworkInterfaces?.find((n) => n.NetworkInterfaceId === networkInterfaceId);
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw classify(error, `DescribeNetworkInterfaces ${networkInterfaceId}`);
  }
}

/**
 * A subnet's CIDR never changes once the subnet exists (Amazon VPC User Guide, "Subnet CIDR
 * blocks": a subnet's IPv4 CIDR cannot be modified), so one look per subnet serves the container's
 * every later invocation.
 */
const subnetCidrs = new Map<string, string>();

/** The IPv4 CIDR of an ENI's subnet: the host's route table for the set's IP needs its prefix and router. */
export async function subnetCidr(deps: Pick<Deps, 'ec2' | 'clock'>, subnetId: string): Promise<string> {
  const known = subnetCidrs.get(subnetId);
  if (known !== undefined) return known;
  let out;
  try {
    out = await deps.ec2.send(new DescribeSubnetsCommand({ SubnetIds: [subnetId] }));
  } catch (error) {
    throw classify(error, `DescribeSubnets ${subnetId}`);
  }
  const cidr = out.Subnets?.find((s) => s.SubnetId === subnetId)?.CidrBlock;
  if (!cidr) throw new FinalError(`subnet ${subnetId} has no IPv4 CIDR (DescribeSubnets answered none)`);
  subnetCidrs.set(subnetId, cidr);
  return cidr;
}

/**
 * Attaches an ENI at a device index. Already attached to this instance counts as success (then
 * `found`: another run attached it, and it is not the caller's to undo); held by another instance
 * throws ContestedError; `IncorrectState` while the instance boots is waited out (bounded by
 * timeouts.attachSeconds and the invocation's deadline).
 */
export async function attachInterface(
  deps: Ec2Deps,
  networkInterfaceId: string,
  instanceId: string,
  deviceIndex: number,
): Promise<'attached' | 'found'> {
  let last = '';
  return poll<'attached' | 'found'>(
    deps,
    async () => {
      try {
        await deps.ec2.send(
          new AttachNetworkInterfaceCommand({
            NetworkInterfaceId: networkInterfaceId,
            InstanceId: instanceId,
            DeviceIndex: deviceIndex,
          }),
        );
        return 'attached';
      } catch (error) {
        const name = errorName(error);
        const eni = await describeInterface(deps, networkInterfaceId);
        const attachment = eni?.Attachment;
        if (
          attachment?.InstanceId === instanceId &&
          attachment.Status !== 'detaching' &&
          attachment.Status !== 'detached'
        )
          return 'found';
        if (
          attachment?.InstanceId &&
          attachment.InstanceId !== instanceId &&
          attachment.Status !== 'detached'
        ) {
          throw new ContestedError(
            `${networkInterfaceId} is attached to ${attachment.InstanceId}`,
            attachment.InstanceId,
            { cause: error },
          );
        }
        if (!eni)
          throw new FinalError(
            `AttachNetworkInterface ${networkInterfaceId}: the interface no longer exists`,
          );
        if (
          name !== 'IncorrectState' &&
          name !== 'IncorrectInstanceState' &&
          name !== 'InvalidNetworkInterface.InUse'
        )
          throw classify(
            error,
            `AttachNetworkInterface ${networkInterfaceId} to ${instanceId} at index ${deviceIndex}`,
          );
        last = name;
        return undefined;
      }
    },
    {
      what: `AttachNetworkInterface ${networkInterfaceId} to ${instanceId}`,
      timeoutSeconds: deps.settings.timeouts.attachSeconds,
      intervalMs: 2000,
      maxIntervalMs: 8000,
      describe: () => last,
    },
  );
}

/** Polls until the interface satisfies `predicate` (within timeouts.attachSeconds and the deadline). */
export async function waitForInterface(
  deps: Pick<Deps, 'ec2' | 'clock' | 'settings' | 'deadline'>,
  networkInterfaceId: string,
  predicate: (eni: NetworkInterface | undefined) => boolean,
  what = 'the expected state',
): Promise<NetworkInterface | undefined> {
  return waitForResource(
    deps,
    `${networkInterfaceId} ${what}`,
    () => describeInterface(deps, networkInterfaceId),
    predicate,
    (eni) => eni?.Status ?? 'gone',
  );
}

export const interfaceAttachedTo =
  (instanceId: string) =>
  (eni: NetworkInterface | undefined): boolean =>
    eni?.Attachment?.InstanceId === instanceId && eni.Attachment.Status === 'attached';

export const interfaceAvailable = (eni: NetworkInterface | undefined): boolean =>
  eni === undefined || eni.Status === 'available';

/** Detaches an ENI from an instance (never forced); not attached there counts as success. */
export async function detachInterface(
  deps: Ec2Deps,
  networkInterfaceId: string,
  instanceId: string,
): Promise<void> {
  const eni = await describeInterface(deps, networkInterfaceId);
  const attachment = eni?.Attachment;
  if (
    !attachment?.AttachmentId ||
    attachment.InstanceId !== instanceId ||
    attachment.Status === 'detaching' ||
    attachment.Status === 'detached'
  )
    return;
  const attachmentId = attachment.AttachmentId;
  try {
    await deps.ec2.send(new DetachNetworkInterfaceCommand({ AttachmentId: attachmentId }));
  } catch (error) {
    if (isNotFound(error)) return;
    throw classify(error, `DetachNetworkInterface ${networkInterfaceId} from ${instanceId}`);
  }
}
