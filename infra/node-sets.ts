/**
 * Optional creation of node sets: per node, one encrypted EBS volume (ordinal 0, RETAIN: a
 * `cdk destroy` never deletes data) and one ENI in the node's subnet (RETAIN as well), both tagged with the NodeID,
 * the group's filter tags and the owner tag, so that the group's filters select them. Without this
 * construct berth adopts sets tagged by hand, as smilodon did.
 */
import { CfnTag, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Construct } from 'constructs';
import { parseFilters } from '../lambdas/shared/filters';
import { filterTags, validateNodes, type NodeSpecInput } from './defaults';

export interface NodeSpec extends NodeSpecInput {
  /** The NodeID (tag value shared by the set's volume and ENI). */
  readonly nodeId: string;
  /** Subnet of the ENI; the volume goes to its Availability Zone. */
  readonly subnet: ec2.ISubnet;
  /** Size of the primary volume. */
  readonly volumeSizeGiB: number;
  /** Primary private IPv4 of the ENI. @default - chosen by EC2 from the subnet */
  readonly privateIp?: string;
}

export interface NodeSetsProps {
  /** The group's name (value of the owner tag). */
  readonly groupName: string;
  readonly nodes: readonly NodeSpec[];
  /** The group's filters in smilodon syntax; their tag parts become tags. @default '' */
  readonly filters?: string;
  /** @default 'NodeID' */
  readonly nodeIdTagKey?: string;
  /** @default 'berth:ordinal' */
  readonly ordinalTagKey?: string;
  /** @default 'berth:group' */
  readonly ownerTagKey?: string;
  /** Security groups of the ENIs. */
  readonly securityGroups: readonly ec2.ISecurityGroup[];
  /** @default 'gp3' */
  readonly volumeType?: string;
  /** KMS key for the volumes. @default - the account's default EBS key */
  readonly kmsKeyId?: string;
  /** Sets of volumes only (settings.volumeOnly): no ENI is created. @default false */
  readonly volumeOnly?: boolean;
}

export interface CreatedNodeSet {
  readonly nodeId: string;
  readonly volume: ec2.CfnVolume;
  /** Undefined in a volume-only group. */
  readonly networkInterface?: ec2.CfnNetworkInterface;
}

export class NodeSets extends Construct {
  public readonly sets: readonly CreatedNodeSet[];

  constructor(scope: Construct, id: string, props: NodeSetsProps) {
    super(scope, id);
    validateNodes(props.nodes, true);
    const common: Record<string, string> = {
      ...filterTags(parseFilters(props.filters ?? '')),
      [props.ownerTagKey ?? 'berth:group']: props.groupName,
    };
    const nodeIdKey = props.nodeIdTagKey ?? 'NodeID';
    const tagsOf = (extra: Record<string, string>): CfnTag[] =>
      Object.entries({ ...common, ...extra }).map(([key, value]) => ({ key, value }));

    this.sets = props.nodes.map((node) => {
      const volume = new ec2.CfnVolume(this, `Volume-${node.nodeId}`, {
        availabilityZone: node.subnet.availabilityZone,
        size: node.volumeSizeGiB,
        volumeType: props.volumeType ?? 'gp3',
        encrypted: true,
        ...(props.kmsKeyId ? { kmsKeyId: props.kmsKeyId } : {}),
        tags: tagsOf({ [nodeIdKey]: node.nodeId, [props.ordinalTagKey ?? 'berth:ordinal']: '0' }),
      });
      volume.applyRemovalPolicy(RemovalPolicy.RETAIN);
      Validations.of(volume).acknowledge({
        id: 'CloudFormation-Validate::W3010',
        reason:
          "An EBS volume lives in one Availability Zone: a node set's volume must be in its node's subnet's AZ, which is where this one comes from.",
      });
      if (props.volumeOnly) return { nodeId: node.nodeId, volume };
      const networkInterface = new ec2.CfnNetworkInterface(this, `Interface-${node.nodeId}`, {
        subnetId: node.subnet.subnetId,
        groupSet: props.securityGroups.map((sg) => sg.securityGroupId),
        description: `berth ${props.groupName} ${node.nodeId}`,
        ...(node.privateIp ? { privateIpAddress: node.privateIp } : {}),
        tags: tagsOf({ [nodeIdKey]: node.nodeId }),
      });
      // Retained too: its address is the node's identity (peers know it), and CloudFormation could
      // not delete it anyway while a terminating instance still holds it.
      networkInterface.applyRemovalPolicy(RemovalPolicy.RETAIN);
      return { nodeId: node.nodeId, volume, networkInterface };
    });
  }
}
