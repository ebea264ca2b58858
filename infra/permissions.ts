/**
 * berth's IAM statements, as narrow as each service allows. No resource is created here: the
 * group construct attaches the statements to each function's role and acknowledges, in cdk-nag,
 * every wildcard that remains, with the reason given beside the statement.
 *
 * What the conditions enforce, and what they cannot:
 * - Instances: only this group's (`aws:ResourceTag/aws:autoscaling:groupName`, a tag Auto Scaling
 *   sets and no one else can write, since `aws:` tags are reserved).
 * - Node-set volumes and ENIs (attach, detach, modify): those carrying the NodeID tag and every
 *   `K=V` / `tag-key=K` tag of the group's filters. Sets adopted from hand-tagged resources
 *   (as in smilodon) carry no berth tag, so the filters are what marks them as this group's;
 *   with empty filters, any volume/ENI with a NodeID tag qualifies, as it does for the group.
 * - Volumes berth created (grown and scratch volumes): those with the owner tag
 *   `berth:group=<group>`. Creation must carry that tag (`aws:RequestTag`), and tags can be
 *   written on volumes only in the CreateVolume call itself (`ec2:CreateAction`), so berth can
 *   neither forge the owner tag on a foreign volume nor strip a NodeID tag.
 * - DeleteVolume: only owned volumes WITHOUT a NodeID tag (scratch volumes, orphans of a vanished
 *   instance), or owned volumes whose growth state tag is "pending" (created, never handed to the
 *   host) or "refused" (the host said it did not join). "pending" is written only by CreateVolume
 *   and "refused" only over "joining", so a volume that joined can never become deletable. IAM cannot tell whether a scratch volume
 *   already joined a filesystem or is attached: the functions check that (and EC2 refuses to
 *   delete an attached volume).
 * - Tags on existing volumes: only growth's state keys (GROWTH_STATE_TAGS); NodeID, ordinal and
 *   owner tags are written at creation and never after.
 * - ModifyInstanceAttribute has no condition key for the attribute: it is limited to this group's
 *   instances (and, for block device mappings, to volumes berth owns), but within them it could
 *   change more than DeleteOnTermination.
 * - Describe/List/Get calls support no resource-level permissions: `Resource: *`.
 * - Metrics go out as EMF log lines (no permission needed); no function calls PutMetricData.
 */
import { ArnFormat, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { Settings } from '../lambdas/shared/config';
import { ASG_NAME_TAG, type Capability } from './defaults';
import { instanceAlarmPrefix } from './event-patterns';
import {
  TAG_EXPAND_STATE,
  TAG_EXPAND_TOKEN,
  TAG_GROW_STATE,
  TAG_GROW_TOKEN,
  TAG_MODIFICATIONS,
  TAG_PREPARED,
} from '../lambdas/domain/growth-tags';

/** The tags growth rewrites on existing volumes (its state machine). */
export const GROWTH_STATE_TAGS = [
  TAG_GROW_STATE,
  TAG_GROW_TOKEN,
  TAG_MODIFICATIONS,
  TAG_EXPAND_TOKEN,
  TAG_EXPAND_STATE,
] as const;

/** Growth states in which a volume provably never joined a filesystem: the only deletable ones. */
export const DELETABLE_GROW_STATES = ['pending', 'refused'] as const;

export interface PermissionContext {
  readonly stack: Stack;
  readonly settings: Settings;
  /** The group's name as the template knows it (may be a token). */
  readonly groupName: string;
  readonly documentNames: readonly string[];
  /** `${alarmPrefix}${groupName}-` */
  readonly alarmNamePrefix: string;
  /** Customer managed keys (key ARNs) of the volumes attached and created (defaults.ts, kmsKeyArns). */
  readonly kmsKeys?: { readonly attach: readonly string[]; readonly create: readonly string[] };
}

/** A statement and, for every wildcard it keeps, why it cannot be narrower. */
export interface ScopedStatement {
  readonly statement: iam.PolicyStatement;
  readonly wildcardReason?: string;
}

function ec2Arn(ctx: PermissionContext, resource: string): string {
  return ctx.stack.formatArn({ service: 'ec2', resource, resourceName: '*' });
}

/** Conditions that select a node set's resources through the group's filters. */
function setTagConditions(ctx: PermissionContext): Record<string, Record<string, unknown>> {
  const equals: Record<string, string[]> = {};
  const present: Record<string, string> = { [`aws:ResourceTag/${ctx.settings.nodeIdTagKey}`]: 'false' };
  for (const f of ctx.settings.parsedFilters) {
    if (f.name.startsWith('tag:')) equals[`aws:ResourceTag/${f.name.slice(4)}`] = [...f.values];
    else if (f.name === 'tag-key') for (const k of f.values) present[`aws:ResourceTag/${k}`] = 'false';
  }
  return { ...(Object.keys(equals).length ? { StringEquals: equals } : {}), Null: present };
}

const INSTANCE_REASON =
  'EC2 instance ids are not known in advance; the condition limits the statement to instances Auto Scaling tagged with this group.';
const SET_REASON =
  "Node sets are found at run time; the conditions limit the statement to volumes/ENIs with the NodeID tag and the group's filter tags.";
const OWNED_REASON =
  'Volumes berth creates get ids at run time; the condition limits the statement to volumes with the owner tag berth writes at creation.';

export function statementsFor(
  capabilities: readonly Capability[],
  ctx: PermissionContext,
): ScopedStatement[] {
  const has = (c: Capability) => capabilities.includes(c);
  const out: ScopedStatement[] = [];
  const ownerCondition = { [`aws:ResourceTag/${ctx.settings.ownerTagKey}`]: ctx.groupName };
  const groupInstance = { StringEquals: { [`aws:ResourceTag/${ASG_NAME_TAG}`]: ctx.groupName } };
  // A volume-only group's sets have no ENI: no statement on network interfaces.
  const enis = ctx.settings.volumeOnly !== true;

  if (has('describe')) {
    out.push({
      statement: new iam.PolicyStatement({
        sid: 'Describe',
        actions: [
          'ec2:DescribeInstances',
          'ec2:DescribeVolumes',
          'ec2:DescribeVolumesModifications',
          ...(enis ? ['ec2:DescribeNetworkInterfaces', 'ec2:DescribeSubnets'] : []),
          'ec2:DescribeInstanceTypes',
          'autoscaling:DescribeAutoScalingGroups',
          'autoscaling:DescribeAutoScalingInstances',
          'ssm:DescribeInstanceInformation',
          'ssm:ListCommandInvocations',
          'ssm:GetCommandInvocation',
        ],
        resources: ['*'],
      }),
      wildcardReason:
        'Describe/List/Get calls of EC2, Auto Scaling and SSM Run Command support no resource-level permissions (Service Authorization Reference); they read, never change.',
    });
  }

  if (has('lifecycle')) {
    out.push({
      statement: new iam.PolicyStatement({
        sid: 'LifecycleOfThisGroup',
        actions: ['autoscaling:CompleteLifecycleAction', 'autoscaling:RecordLifecycleActionHeartbeat'],
        resources: [
          ctx.stack.formatArn({
            service: 'autoscaling',
            resource: 'autoScalingGroup',
            resourceName: `*:autoScalingGroupName/${ctx.groupName}`,
            arnFormat: ArnFormat.COLON_RESOURCE_NAME,
          }),
        ],
      }),
      wildcardReason:
        "The ARN names this group; its only wildcard is the group's UUID, which Auto Scaling assigns at creation.",
    });
  }

  // Actions on volumes/ENIs of node sets and on berth's own volumes, by capability.
  const setVolumeActions: string[] = [];
  const ownedVolumeActions: string[] = [];
  const instanceActions: string[] = [];
  if (has('attachSets')) {
    setVolumeActions.push('ec2:AttachVolume', 'ec2:DetachVolume');
    instanceActions.push('ec2:AttachVolume', 'ec2:DetachVolume');
    if (enis) instanceActions.push('ec2:AttachNetworkInterface', 'ec2:DetachNetworkInterface');
  }
  if (has('attachOwnedVolumes')) {
    ownedVolumeActions.push('ec2:AttachVolume', 'ec2:DetachVolume');
    for (const a of ['ec2:AttachVolume', 'ec2:DetachVolume'])
      if (!instanceActions.includes(a)) instanceActions.push(a);
  }
  if (has('modifyVolumes')) {
    setVolumeActions.push('ec2:ModifyVolume');
    ownedVolumeActions.push('ec2:ModifyVolume');
  }
  if (has('instanceAttributes')) {
    // DeleteOnTermination of a scratch or grown volume goes through the instance's block device
    // mappings: ModifyInstanceAttribute's resource types are instance, security-group and volume
    // (Service Authorization Reference, Amazon EC2), and the mapped volume is a resource of the
    // request. Only berth's own volumes get it; a node set's volume must outlive its instance.
    instanceActions.push('ec2:ModifyInstanceAttribute');
    ownedVolumeActions.push('ec2:ModifyInstanceAttribute');
  }

  if (instanceActions.length) {
    out.push({
      statement: new iam.PolicyStatement({
        sid: 'InstancesOfThisGroup',
        actions: instanceActions,
        resources: [ec2Arn(ctx, 'instance')],
        conditions: groupInstance,
      }),
      wildcardReason: INSTANCE_REASON,
    });
  }
  if (setVolumeActions.length) {
    out.push({
      statement: new iam.PolicyStatement({
        sid: 'NodeSetVolumes',
        actions: setVolumeActions,
        resources: [ec2Arn(ctx, 'volume')],
        conditions: setTagConditions(ctx),
      }),
      wildcardReason: SET_REASON,
    });
  }
  if (has('attachSets') && enis) {
    out.push({
      statement: new iam.PolicyStatement({
        sid: 'NodeSetInterfaces',
        actions: ['ec2:AttachNetworkInterface', 'ec2:DetachNetworkInterface'],
        resources: [ec2Arn(ctx, 'network-interface')],
        conditions: setTagConditions(ctx),
      }),
      wildcardReason: SET_REASON,
    });
  }
  if (ownedVolumeActions.length) {
    out.push({
      statement: new iam.PolicyStatement({
        sid: 'OwnedVolumes',
        actions: ownedVolumeActions,
        resources: [ec2Arn(ctx, 'volume')],
        conditions: { StringEquals: ownerCondition },
      }),
      wildcardReason: OWNED_REASON,
    });
  }

  if (has('createVolumes')) {
    const encrypted = ctx.settings.growth?.encrypted !== false;
    out.push({
      statement: new iam.PolicyStatement({
        sid: 'CreateOwnedVolumes',
        actions: ['ec2:CreateVolume'],
        resources: [ec2Arn(ctx, 'volume')],
        conditions: {
          StringEquals: { [`aws:RequestTag/${ctx.settings.ownerTagKey}`]: ctx.groupName },
          ...(encrypted ? { Bool: { 'ec2:Encrypted': 'true' } } : {}),
        },
      }),
      wildcardReason:
        'A new volume has no id yet; the conditions require the owner tag in the request' +
        (encrypted ? ' and encryption.' : '.'),
    });
    out.push({
      statement: new iam.PolicyStatement({
        sid: 'TagVolumesAtCreation',
        actions: ['ec2:CreateTags'],
        resources: [ec2Arn(ctx, 'volume')],
        conditions: { StringEquals: { 'ec2:CreateAction': 'CreateVolume' } },
      }),
      wildcardReason:
        'Tags may be written on volumes only within CreateVolume (ec2:CreateAction), never on an existing volume.',
    });
  }
  const stateKey = `aws:RequestTag/${TAG_GROW_STATE}`;
  const bookkeeping = {
    'ForAllValues:StringEquals': { 'aws:TagKeys': [...GROWTH_STATE_TAGS] },
    StringNotEquals: { [stateKey]: [...DELETABLE_GROW_STATES] },
  };
  if (has('tagGrowthState')) {
    // Growth keeps its state in tags on the volumes it creates or enlarges (lambdas/domain/growth-tags.ts):
    // pending (CreateVolume) -> joining (handed to the host) -> joined | unknown | refused.
    // IAM holds the line that matters: only `pending` and `refused` volumes can be deleted,
    // `pending` is written only by CreateVolume, and `refused` only over `joining`, so a volume
    // that joined a filesystem can never become deletable. NodeID, ordinal and owner tags stay
    // write-once (they are not among the keys below).
    out.push({
      statement: new iam.PolicyStatement({
        sid: 'GrowthStateOnOwnedVolumes',
        actions: ['ec2:CreateTags'],
        resources: [ec2Arn(ctx, 'volume')],
        conditions: { ...bookkeeping, StringEquals: ownerCondition },
      }),
      wildcardReason: `${OWNED_REASON} Only growth's state tags may be written.`,
    });
    out.push({
      statement: new iam.PolicyStatement({
        sid: 'RefuseVolumesTheHostRefused',
        actions: ['ec2:CreateTags'],
        resources: [ec2Arn(ctx, 'volume')],
        conditions: {
          'ForAllValues:StringEquals': { 'aws:TagKeys': [TAG_GROW_STATE] },
          StringEquals: {
            ...ownerCondition,
            [stateKey]: 'refused',
            [`aws:ResourceTag/${TAG_GROW_STATE}`]: 'joining',
          },
        },
      }),
      wildcardReason: `${OWNED_REASON} Only a volume in state joining may be marked refused.`,
    });
  }
  if (has('tagSetGrowthState')) {
    // Expanding a node set's own volume in place (not one berth created) records its state there.
    out.push({
      statement: new iam.PolicyStatement({
        sid: 'GrowthStateOnNodeSetVolumes',
        actions: ['ec2:CreateTags'],
        resources: [ec2Arn(ctx, 'volume')],
        conditions: { ...setTagConditions(ctx), ...bookkeeping },
      }),
      wildcardReason: `${SET_REASON} Only growth's state tags may be written.`,
    });
  }
  if (has('deleteScratchVolumes')) {
    out.push({
      statement: new iam.PolicyStatement({
        sid: 'DeleteOwnedScratchVolumes',
        actions: ['ec2:DeleteVolume'],
        resources: [ec2Arn(ctx, 'volume')],
        conditions: {
          StringEquals: ownerCondition,
          Null: { [`aws:ResourceTag/${ctx.settings.nodeIdTagKey}`]: 'true' },
        },
      }),
      wildcardReason:
        'Only volumes berth created (owner tag) and that belong to no node set (no NodeID tag) can be deleted.',
    });
  }
  if (has('deleteVolumes')) {
    out.push({
      statement: new iam.PolicyStatement({
        sid: 'DeleteOwnedVolumesThatNeverJoined',
        actions: ['ec2:DeleteVolume'],
        resources: [ec2Arn(ctx, 'volume')],
        conditions: {
          StringEquals: {
            ...ownerCondition,
            [`aws:ResourceTag/${TAG_GROW_STATE}`]: [...DELETABLE_GROW_STATES],
          },
        },
      }),
      wildcardReason:
        'A volume berth created for growth may be deleted only while its state tag says it never joined a filesystem (pending or refused).',
    });
  }
  if (has('tagInstances')) {
    out.push({
      statement: new iam.PolicyStatement({
        sid: 'TagInstancesWithNodeId',
        actions: ['ec2:CreateTags'],
        resources: [ec2Arn(ctx, 'instance')],
        conditions: {
          ...groupInstance,
          'ForAllValues:StringEquals': { 'aws:TagKeys': [ctx.settings.nodeIdTagKey, TAG_PREPARED] },
        },
      }),
      wildcardReason: `${INSTANCE_REASON} Only the NodeID tag and the prepared mark may be written.`,
    });
  }

  if (has('runCommands')) {
    out.push({
      statement: new iam.PolicyStatement({
        sid: 'SendBerthDocuments',
        actions: ['ssm:SendCommand'],
        resources: ctx.documentNames.map((name) =>
          ctx.stack.formatArn({ service: 'ssm', resource: 'document', resourceName: name }),
        ),
      }),
    });
    out.push({
      statement: new iam.PolicyStatement({
        sid: 'SendToInstancesOfThisGroup',
        actions: ['ssm:SendCommand'],
        resources: [ec2Arn(ctx, 'instance')],
        conditions: { StringEquals: { [`ssm:resourceTag/${ASG_NAME_TAG}`]: ctx.groupName } },
      }),
      wildcardReason: `${INSTANCE_REASON} SendCommand is also limited to berth's documents.`,
    });
  }

  if (has('alarms')) {
    out.push({
      statement: new iam.PolicyStatement({
        sid: 'AlarmsOfThisGroup',
        actions: [
          'cloudwatch:PutMetricAlarm',
          'cloudwatch:DeleteAlarms',
          'cloudwatch:SetAlarmState',
          // PutMetricAlarm with Tags (owner, instance) needs TagResource on the alarm.
          'cloudwatch:TagResource',
        ],
        resources: [
          ctx.stack.formatArn({
            service: 'cloudwatch',
            resource: 'alarm',
            resourceName: `${instanceAlarmPrefix(ctx.alarmNamePrefix)}*`,
            arnFormat: ArnFormat.COLON_RESOURCE_NAME,
          }),
        ],
      }),
      wildcardReason:
        "Alarm names end with the instance id; the prefix limits the statement to this group's alarms.",
    });
  }
  if (has('listAlarms')) {
    out.push({
      statement: new iam.PolicyStatement({
        sid: 'ListAlarms',
        actions: ['cloudwatch:DescribeAlarms'],
        resources: [
          ctx.stack.formatArn({
            service: 'cloudwatch',
            resource: 'alarm',
            resourceName: '*',
            arnFormat: ArnFormat.COLON_RESOURCE_NAME,
          }),
        ],
      }),
      wildcardReason:
        "DescribeAlarms by AlarmNamePrefix names no alarm and is authorized against alarm:* (CloudWatch permissions reference); it only reads, and berth lists with its group's prefix.",
    });
  }

  out.push(...kmsStatements(capabilities, ctx));
  return out;
}

/**
 * What EBS asks KMS for, with the caller's permissions, when this role creates or attaches a
 * volume under a customer managed key (EBS User Guide, "Requirements for Amazon EBS encryption":
 * kms:CreateGrant with kms:GrantIsForAWSResource, Decrypt, DescribeKey,
 * GenerateDataKeyWithoutPlaintext, ReEncrypt*). Attaching needs the grant and Decrypt (AttachVolume
 * fails without CreateGrant, kubernetes/kubernetes#62171; EC2 decrypts the volume's data key at
 * attach, KMS Developer Guide, "How unusable KMS keys affect data keys"); creating needs the data
 * key. Every statement holds only through EC2 in this Region (kms:ViaService). Keys are named by
 * key ARN: an alias in a Resource would match the alias, not the key.
 */
function kmsStatements(capabilities: readonly Capability[], ctx: PermissionContext): ScopedStatement[] {
  const has = (c: Capability) => capabilities.includes(c);
  const keys = ctx.kmsKeys ?? { attach: [], create: [] };
  // A role that attaches sets meets any key; one that attaches only its own volumes, their keys.
  const attach = has('attachSets') ? keys.attach : has('attachOwnedVolumes') ? keys.create : [];
  const create = has('createVolumes') ? keys.create : [];
  const used = [...new Set([...attach, ...create])];
  if (used.length === 0) return [];
  const viaEc2 = { 'kms:ViaService': `ec2.${ctx.stack.region}.amazonaws.com` };
  const out: ScopedStatement[] = [
    {
      statement: new iam.PolicyStatement({
        sid: 'EbsGrantsOnTheKeys',
        actions: ['kms:CreateGrant'],
        resources: used,
        conditions: { Bool: { 'kms:GrantIsForAWSResource': 'true' }, StringEquals: viaEc2 },
      }),
    },
    {
      statement: new iam.PolicyStatement({
        sid: 'EbsDecryptsWithTheKeys',
        actions: ['kms:Decrypt', 'kms:DescribeKey'],
        resources: used,
        conditions: { StringEquals: viaEc2 },
      }),
    },
  ];
  if (create.length > 0) {
    out.push({
      statement: new iam.PolicyStatement({
        sid: 'EbsEncryptsWithTheKeys',
        actions: ['kms:GenerateDataKeyWithoutPlaintext', 'kms:ReEncryptFrom', 'kms:ReEncryptTo'],
        resources: [...create],
        conditions: { StringEquals: viaEc2 },
      }),
    });
  }
  return out;
}
