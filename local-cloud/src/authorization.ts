/**
 * IAM in the local cloud: which request maps to which action, resources and condition keys (ONE
 * table, `AUTHORIZATION`, each row citing the Service Authorization Reference page of its service),
 * and the authorizer the transport asks before a model handles a call of a checked principal.
 *
 * Resources carry the condition keys that belong to them: `aws:ResourceTag/<key>` from the model's
 * CURRENT tags (and `ssm:resourceTag/<key>` for SSM's view of an instance); the request carries
 * `aws:RequestTag/<key>`, `aws:TagKeys`, `ec2:CreateAction` (tag-on-create), and the service keys
 * berth's policies use. A call that names no resource (a list by prefix) is authorized against the
 * wildcard ARN of every resource it could return (`alarm:*`), which the evaluator judges strictly.
 *
 * Error shapes (status, code, message) as AWS answers a denied call:
 * - EC2: 403 `UnauthorizedOperation`, "You are not authorized to perform this operation. User: <arn>
 *   is not authorized to perform: ec2:<Action> on resource: <arn> because no identity-based policy
 *   allows the ec2:<Action> action. Encoded authorization failure message: <message>" (EC2 API
 *   reference, "Error codes": UnauthorizedOperation; the encoded message is what
 *   sts:DecodeAuthorizationMessage decodes; here it is base64 of the same JSON shape, unencrypted).
 * - Auto Scaling: 403 `AccessDenied`; CloudWatch: 403 `AccessDenied`; SSM: 400
 *   `AccessDeniedException`; message "User: <arn> is not authorized to perform: <action> on
 *   resource: <arn> because no identity-based policy allows the <action> action" (IAM User Guide,
 *   "Troubleshoot access denied error messages"; SSM API reference, Common Errors:
 *   AccessDeniedException).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { fail, type AwsError, type ServiceName } from './errors';
import {
  allowingStatements,
  evaluate,
  type AuthorizationRequest,
  type PolicyStatement,
  type RequestContext,
  type RequestResource,
} from './iam';

const SAR = 'https://docs.aws.amazon.com/service-authorization/latest/reference';
const EC2_REF = `${SAR}/list_amazonec2.html`;
const ASG_REF = `${SAR}/list_amazonec2autoscaling.html`;
const SSM_REF = `${SAR}/list_awssystemsmanager.html`;
const CW_REF = `${SAR}/list_amazoncloudwatch.html`;

/** What a row reads of the cloud: ARNs and current tags of the resources a request names. */
export interface AuthorizationView {
  region: string;
  account: string;
  instanceTags(id: string): Record<string, string> | undefined;
  volumeTags(id: string): Record<string, string> | undefined;
  /** The instance a volume is attached to (DetachVolume without InstanceId). */
  volumeInstance(id: string): string | undefined;
  networkInterfaceTags(id: string): Record<string, string> | undefined;
  /** The ENI and instance of an ENI attachment (DetachNetworkInterface names only the attachment). */
  networkInterfaceAttachment(
    attachmentId: string,
  ): { networkInterfaceId: string; instanceId: string } | undefined;
  groupArn(name: string): string | undefined;
  alarmTags(name: string): Record<string, string> | undefined;
}

type Input = Record<string, unknown>;

interface Row {
  /** The Service Authorization Reference page (actions, resource types, condition keys). */
  ref: string;
  requests(input: Input, view: AuthorizationView): AuthorizationRequest[];
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.map(str) : []);

function tagContext(prefix: string, tags: Record<string, string> | undefined): RequestContext {
  return Object.fromEntries(Object.entries(tags ?? {}).map(([k, v]) => [`${prefix}${k}`, v]));
}

function ec2Resource(
  view: AuthorizationView,
  type: string,
  id: string,
  tags?: Record<string, string>,
): RequestResource {
  return {
    arn: `arn:aws:ec2:${view.region}:${view.account}:${type}/${id}`,
    context: tagContext('aws:ResourceTag/', tags),
  };
}
const instance = (view: AuthorizationView, id: string) =>
  ec2Resource(view, 'instance', id, view.instanceTags(id));
const volume = (view: AuthorizationView, id: string) => ec2Resource(view, 'volume', id, view.volumeTags(id));
const eni = (view: AuthorizationView, id: string) =>
  ec2Resource(view, 'network-interface', id, view.networkInterfaceTags(id));

/** `aws:RequestTag/<key>` and `aws:TagKeys` of the tags in a request. */
function requestTags(tags: { Key?: string; Value?: string }[]): RequestContext {
  return {
    ...Object.fromEntries(tags.map((t) => [`aws:RequestTag/${t.Key ?? ''}`, t.Value ?? ''])),
    'aws:TagKeys': tags.map((t) => t.Key ?? ''),
  };
}

const ANY: RequestResource[] = [{ arn: '*' }];
/** Actions without resource types: authorized against `*`. */
/** An SSM call on one parameter (its ARN from the `Name`, with or without a leading slash). */
const parameterRow = (action: string): Row => ({
  ref: SSM_REF,
  requests: (i, v) => {
    const name = str(i.Name);
    return [
      {
        action,
        resources: [
          { arn: `arn:aws:ssm:${v.region}:${v.account}:parameter${name.startsWith('/') ? '' : '/'}${name}` },
        ],
      },
    ];
  },
});

const noResource = (ref: string, action: string): Row => ({
  ref,
  requests: () => [{ action, resources: ANY }],
});

function alarm(view: AuthorizationView, name: string): RequestResource {
  return {
    arn: `arn:aws:cloudwatch:${view.region}:${view.account}:alarm:${name}`,
    context: tagContext('aws:ResourceTag/', view.alarmTags(name)),
  };
}

function ec2ResourceOf(view: AuthorizationView, id: string): RequestResource {
  if (id.startsWith('vol-')) return volume(view, id);
  if (id.startsWith('i-')) return instance(view, id);
  if (id.startsWith('eni-')) return eni(view, id);
  if (id.startsWith('snap-')) return { arn: `arn:aws:ec2:${view.region}::snapshot/${id}` };
  throw new Error(`authorization table: no resource type for ${id}`);
}

/**
 * THE table: one row per API call berth makes (service:Operation), with the action(s) it is
 * authorized as, the resources (every required and given resource type of the action) and keys.
 */
export const AUTHORIZATION: Record<string, Row> = {
  // ---- EC2 (Service Authorization Reference: Amazon EC2)
  // AttachVolume: resource types instance* and volume*.
  'ec2:AttachVolume': {
    ref: EC2_REF,
    requests: (i, v) => [
      { action: 'ec2:AttachVolume', resources: [instance(v, str(i.InstanceId)), volume(v, str(i.VolumeId))] },
    ],
  },
  // DetachVolume: instance* and volume* (the instance is the volume's, when the call omits it).
  'ec2:DetachVolume': {
    ref: EC2_REF,
    requests: (i, v) => {
      const instanceId = str(i.InstanceId) || v.volumeInstance(str(i.VolumeId));
      return [
        {
          action: 'ec2:DetachVolume',
          resources: [...(instanceId ? [instance(v, instanceId)] : []), volume(v, str(i.VolumeId))],
        },
      ];
    },
  },
  // AttachNetworkInterface: instance* and network-interface*.
  'ec2:AttachNetworkInterface': {
    ref: EC2_REF,
    requests: (i, v) => [
      {
        action: 'ec2:AttachNetworkInterface',
        resources: [instance(v, str(i.InstanceId)), eni(v, str(i.NetworkInterfaceId))],
      },
    ],
  },
  // DetachNetworkInterface: instance* and network-interface* (found from the attachment id).
  'ec2:DetachNetworkInterface': {
    ref: EC2_REF,
    requests: (i, v) => {
      const a = v.networkInterfaceAttachment(str(i.AttachmentId));
      return [
        {
          action: 'ec2:DetachNetworkInterface',
          resources: a ? [instance(v, a.instanceId), eni(v, a.networkInterfaceId)] : ANY,
        },
      ];
    },
  },
  // CreateVolume: volume* (a new volume: `volume/*`), snapshot when given; keys aws:RequestTag,
  // aws:TagKeys, ec2:Encrypted, ec2:VolumeSize, ec2:VolumeType, ec2:AvailabilityZone. Tags in
  // TagSpecifications also need ec2:CreateTags on the volume with ec2:CreateAction = CreateVolume
  // (EC2 User Guide, "Grant permission to tag Amazon EC2 resources during creation").
  'ec2:CreateVolume': {
    ref: EC2_REF,
    requests: (i, v) => {
      const specs = (i.TagSpecifications ?? []) as {
        ResourceType?: string;
        Tags?: { Key?: string; Value?: string }[];
      }[];
      const tags = specs.filter((s) => s.ResourceType === 'volume').flatMap((s) => s.Tags ?? []);
      const tagged = requestTags(tags);
      const newVolume: RequestResource = { arn: `arn:aws:ec2:${v.region}:${v.account}:volume/*` };
      const context: RequestContext = {
        ...tagged,
        'ec2:Encrypted': i.Encrypted === true ? 'true' : 'false',
        'ec2:VolumeSize': String(i.Size ?? ''),
        'ec2:VolumeType': str(i.VolumeType) || 'gp2',
        'ec2:AvailabilityZone': str(i.AvailabilityZone),
      };
      const snapshot = str(i.SnapshotId);
      return [
        {
          action: 'ec2:CreateVolume',
          resources: [newVolume, ...(snapshot ? [ec2ResourceOf(v, snapshot)] : [])],
          context,
        },
        ...(tags.length
          ? [
              {
                action: 'ec2:CreateTags',
                resources: [newVolume],
                context: { ...tagged, 'ec2:CreateAction': 'CreateVolume' },
              },
            ]
          : []),
      ];
    },
  },
  // CreateTags: every tagged resource, with its current tags; aws:RequestTag, aws:TagKeys.
  'ec2:CreateTags': {
    ref: EC2_REF,
    requests: (i, v) => [
      {
        action: 'ec2:CreateTags',
        resources: strings(i.Resources).map((id) => ec2ResourceOf(v, id)),
        context: requestTags((i.Tags ?? []) as { Key?: string; Value?: string }[]),
      },
    ],
  },
  // DeleteVolume: volume*.
  'ec2:DeleteVolume': {
    ref: EC2_REF,
    requests: (i, v) => [{ action: 'ec2:DeleteVolume', resources: [volume(v, str(i.VolumeId))] }],
  },
  // ModifyVolume: volume*.
  'ec2:ModifyVolume': {
    ref: EC2_REF,
    requests: (i, v) => [{ action: 'ec2:ModifyVolume', resources: [volume(v, str(i.VolumeId))] }],
  },
  // ModifyInstanceAttribute: instance*, security-group and volume: the volumes of the block device
  // mappings changed and the security groups set are resources of the request too.
  'ec2:ModifyInstanceAttribute': {
    ref: EC2_REF,
    requests: (i, v) => {
      const mappings = (i.BlockDeviceMappings ?? []) as { Ebs?: { VolumeId?: string } }[];
      const volumes = mappings.map((m) => str(m.Ebs?.VolumeId)).filter(Boolean);
      const groups = strings(i.Groups);
      return [
        {
          action: 'ec2:ModifyInstanceAttribute',
          resources: [
            instance(v, str(i.InstanceId)),
            ...volumes.map((id) => volume(v, id)),
            ...groups.map((id) => ec2Resource(v, 'security-group', id)),
          ],
        },
      ];
    },
  },
  // Describe* of EC2 support no resource-level permissions.
  'ec2:DescribeInstances': noResource(EC2_REF, 'ec2:DescribeInstances'),
  'ec2:DescribeVolumes': noResource(EC2_REF, 'ec2:DescribeVolumes'),
  'ec2:DescribeVolumesModifications': noResource(EC2_REF, 'ec2:DescribeVolumesModifications'),
  'ec2:DescribeNetworkInterfaces': noResource(EC2_REF, 'ec2:DescribeNetworkInterfaces'),
  'ec2:DescribeSubnets': noResource(EC2_REF, 'ec2:DescribeSubnets'),
  'ec2:DescribeInstanceTypes': noResource(EC2_REF, 'ec2:DescribeInstanceTypes'),

  // ---- Auto Scaling (Service Authorization Reference: Amazon EC2 Auto Scaling)
  // CompleteLifecycleAction / RecordLifecycleActionHeartbeat: autoScalingGroup*.
  'autoscaling:CompleteLifecycleAction': {
    ref: ASG_REF,
    requests: (i, v) => [
      {
        action: 'autoscaling:CompleteLifecycleAction',
        resources: [groupResource(v, str(i.AutoScalingGroupName))],
      },
    ],
  },
  'autoscaling:RecordLifecycleActionHeartbeat': {
    ref: ASG_REF,
    requests: (i, v) => [
      {
        action: 'autoscaling:RecordLifecycleActionHeartbeat',
        resources: [groupResource(v, str(i.AutoScalingGroupName))],
      },
    ],
  },
  'autoscaling:DescribeAutoScalingGroups': noResource(ASG_REF, 'autoscaling:DescribeAutoScalingGroups'),
  'autoscaling:DescribeAutoScalingInstances': noResource(ASG_REF, 'autoscaling:DescribeAutoScalingInstances'),

  // ---- SSM (Service Authorization Reference: AWS Systems Manager)
  // SendCommand: document* and instance (its tags as ssm:resourceTag/* and aws:ResourceTag/*).
  'ssm:SendCommand': {
    ref: SSM_REF,
    requests: (i, v) => {
      const name = str(i.DocumentName);
      const owner = /^(AWS|Amazon)/.test(name) ? '' : v.account;
      return [
        {
          action: 'ssm:SendCommand',
          resources: [
            { arn: `arn:aws:ssm:${v.region}:${owner}:document/${name}` },
            ...strings(i.InstanceIds).map((id) => {
              const tags = v.instanceTags(id);
              const r = ec2Resource(v, 'instance', id, tags);
              return { ...r, context: { ...r.context, ...tagContext('ssm:resourceTag/', tags) } };
            }),
          ],
        },
      ];
    },
  },
  'ssm:GetCommandInvocation': noResource(SSM_REF, 'ssm:GetCommandInvocation'),
  'ssm:ListCommandInvocations': noResource(SSM_REF, 'ssm:ListCommandInvocations'),
  'ssm:ListCommands': noResource(SSM_REF, 'ssm:ListCommands'),
  'ssm:DescribeInstanceInformation': noResource(SSM_REF, 'ssm:DescribeInstanceInformation'),
  // PutParameter, DeleteParameter: parameter* (tests write parameters with them; no berth role may).
  'ssm:PutParameter': parameterRow('ssm:PutParameter'),
  'ssm:DeleteParameter': parameterRow('ssm:DeleteParameter'),
  // GetParameter: parameter* (what the host's CloudWatch agent reads).
  'ssm:GetParameter': {
    ref: SSM_REF,
    requests: (i, v) => {
      const name = str(i.Name);
      return [
        {
          action: 'ssm:GetParameter',
          resources: [
            {
              arn: `arn:aws:ssm:${v.region}:${v.account}:parameter${name.startsWith('/') ? '' : '/'}${name}`,
            },
          ],
        },
      ];
    },
  },

  // ---- CloudWatch (Service Authorization Reference: Amazon CloudWatch)
  // PutMetricAlarm: alarm*; with Tags also cloudwatch:TagResource on the alarm (PutMetricAlarm API
  // reference, Tags: "you must have the cloudwatch:TagResource permission").
  'cloudwatch:PutMetricAlarm': {
    ref: CW_REF,
    requests: (i, v) => {
      const tags = (i.Tags ?? []) as { Key?: string; Value?: string }[];
      const r = alarm(v, str(i.AlarmName));
      return [
        {
          action: 'cloudwatch:PutMetricAlarm',
          resources: [r],
          context: tags.length ? requestTags(tags) : {},
        },
        ...(tags.length
          ? [{ action: 'cloudwatch:TagResource', resources: [r], context: requestTags(tags) }]
          : []),
      ];
    },
  },
  'cloudwatch:DeleteAlarms': {
    ref: CW_REF,
    requests: (i, v) => [
      { action: 'cloudwatch:DeleteAlarms', resources: strings(i.AlarmNames).map((n) => alarm(v, n)) },
    ],
  },
  'cloudwatch:SetAlarmState': {
    ref: CW_REF,
    requests: (i, v) => [{ action: 'cloudwatch:SetAlarmState', resources: [alarm(v, str(i.AlarmName))] }],
  },
  // DescribeAlarms: alarm*. Named alarms are authorized one by one; without AlarmNames (a prefix or
  // a full listing) against `alarm:*` (a real AccessDenied quoted in
  // aws-samples/amazon-cloudwatch-auto-alarms issue #1; CloudWatch permissions reference).
  'cloudwatch:DescribeAlarms': {
    ref: CW_REF,
    requests: (i, v) => {
      const names = strings(i.AlarmNames);
      return [
        {
          action: 'cloudwatch:DescribeAlarms',
          resources: names.length
            ? names.map((n) => alarm(v, n))
            : [{ arn: `arn:aws:cloudwatch:${v.region}:${v.account}:alarm:*` }],
        },
      ];
    },
  },
  // PutMetricData: no resource type; key cloudwatch:namespace.
  'cloudwatch:PutMetricData': {
    ref: CW_REF,
    requests: (i) => [
      {
        action: 'cloudwatch:PutMetricData',
        resources: ANY,
        context: { 'cloudwatch:namespace': str(i.Namespace) },
      },
    ],
  },
};

function groupResource(view: AuthorizationView, name: string): RequestResource {
  return {
    arn:
      view.groupArn(name) ??
      `arn:aws:autoscaling:${view.region}:${view.account}:autoScalingGroup:00000000-0000-0000-0000-000000000000:autoScalingGroupName/${name}`,
  };
}

/** A principal the cloud checks: a role and its identity policy. */
export interface Principal {
  /** The role's name (the AccessDenied message names `assumed-role/<roleName>/<session>`). */
  roleName: string;
  sessionName: string;
  statements: PolicyStatement[];
}

/** One call of a checked principal, as judged (the iam bench reads these). */
export interface Judgement {
  principal: string;
  call: string;
  requests: AuthorizationRequest[];
  allowed: boolean;
}

/**
 * The acting principal of the code running now: handlers run inside `actingAs(name, …)` (see
 * test/helpers/handlers.ts), so calls on the clients they share are judged against their own role.
 */
const acting = new AsyncLocalStorage<string>();

export function actingAs<T>(principal: string, run: () => T): T {
  return acting.run(principal, run);
}

export function actingPrincipal(): string | undefined {
  return acting.getStore();
}

/**
 * Judges the calls of checked principals. `enabled = false` turns the check off (only to show what
 * happens without it).
 */
export class Authorizer {
  enabled = true;
  readonly principals = new Map<string, Principal>();
  /** Every judged call, when `keepLog` is set (the iam bench). */
  log: Judgement[] = [];
  keepLog = false;
  calls = 0;
  denied = 0;

  constructor(private readonly view: AuthorizationView) {}

  setPrincipal(name: string, principal: Principal): void {
    this.principals.set(name, principal);
  }

  /** The requests a call is authorized as (throws for a call the table has no row for). */
  requestsOf(service: ServiceName, operation: string, input: Input): AuthorizationRequest[] {
    const row = AUTHORIZATION[`${service}:${operation}`];
    if (!row)
      throw new Error(
        `authorization table: no row for ${service}:${operation}; add it to local-cloud/src/authorization.ts with its Service Authorization Reference page`,
      );
    return row.requests(input, this.view);
  }

  /** Throws the service's AccessDenied error when the principal's policy does not allow the call. */
  authorize(principalName: string, service: ServiceName, operation: string, input: Input): void {
    if (!this.enabled) return;
    const principal = this.principals.get(principalName);
    if (!principal) throw new Error(`the local cloud knows no policy for principal ${principalName}`);
    const requests = this.requestsOf(service, operation, input);
    this.calls++;
    let denial: { action: string; resource: string } | undefined;
    for (const request of requests) {
      const decision = evaluate(principal.statements, request);
      if (!decision.allowed) {
        denial = { action: request.action, resource: decision.deniedResource ?? '*' };
        break;
      }
    }
    if (this.keepLog)
      this.log.push({
        principal: principalName,
        call: `${service}:${operation}`,
        requests,
        allowed: !denial,
      });
    if (!denial) return;
    this.denied++;
    throw accessDenied(service, this.view.account, principal, denial.action, denial.resource);
  }

  /**
   * Judges the requests a service makes with the caller's permissions while it serves the caller's
   * call (EBS asking KMS for a volume's key: ec2/keys.ts). Logged and counted like the call itself
   * (`call` names it); answers the first action refused, or undefined. The service, not IAM, says
   * how the call then fails.
   */
  judgeOnBehalf(principalName: string, call: string, requests: AuthorizationRequest[]): string | undefined {
    if (!this.enabled) return undefined;
    const principal = this.principals.get(principalName);
    if (!principal) throw new Error(`the local cloud knows no policy for principal ${principalName}`);
    this.calls++;
    const refused = requests.find((request) => !evaluate(principal.statements, request).allowed);
    if (this.keepLog) this.log.push({ principal: principalName, call, requests, allowed: !refused });
    if (!refused) return undefined;
    this.denied++;
    return refused.action;
  }

  /** The Allow statements (indices) that let a judged call through. */
  static allowing(statements: readonly PolicyStatement[], request: AuthorizationRequest): number[] {
    return allowingStatements(statements, request);
  }
}

/** The error AWS answers a denied call with, per service (see the file comment). */
export function accessDenied(
  service: ServiceName,
  account: string,
  principal: Pick<Principal, 'roleName' | 'sessionName'>,
  action: string,
  resource: string,
): AwsError {
  const user = `arn:aws:sts::${account}:assumed-role/${principal.roleName}/${principal.sessionName}`;
  const core = `User: ${user} is not authorized to perform: ${action} on resource: ${resource} because no identity-based policy allows the ${action} action`;
  switch (service) {
    case 'ec2': {
      const decoded = JSON.stringify({
        allowed: false,
        explicitDeny: false,
        matchedStatements: { items: [] },
        failures: { items: [] },
        context: { principal: { arn: user }, action, resource, conditions: { items: [] } },
      });
      const encoded = Buffer.from(decoded).toString('base64');
      return fail(
        'UnauthorizedOperation',
        `You are not authorized to perform this operation. ${core}. Encoded authorization failure message: ${encoded}`,
        403,
      );
    }
    case 'ssm':
      return fail('AccessDeniedException', core, 400);
    case 'autoscaling':
    case 'cloudwatch':
      return fail('AccessDenied', core, 403);
  }
}
