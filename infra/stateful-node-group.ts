/**
 * StatefulNodeGroup: berth for one Auto Scaling group. It gives every node a stable berth (the EBS
 * volumes and ENI of one NodeID) and grows its filesystem, with lifecycle hooks, EventBridge rules,
 * four functions, SSM documents, the CloudWatch agent configuration and a dashboard.
 *
 * The name says what the user gets (a node group whose nodes keep their state), not how; it is
 * the ASG-level counterpart of a Kubernetes StatefulSet.
 */
import { Annotations, ArnFormat, Duration, Names, Stack, Token, Validations } from 'aws-cdk-lib';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { GROW_FUNCTION_ARN_ENV } from '../lambdas/shared/contract';
import { RECONCILE_MINUTES_ENV } from '../lambdas/shared/alarm-names';
import { checkScopingFilters, ConfigError, type Settings } from '../lambdas/shared/config';
import { SCRIPTS, type ScriptKey } from '../lambdas/shared/documents';
import { cloudWatchAgentConfig, AGENT_NAMESPACE } from './agent-config';
import { readScripts } from './agent-scripts';
import { BerthFunction } from './berth-function';
import {
  berthNames,
  capabilitiesOf,
  checkGroupName,
  importedRoleWarning,
  placeholderSettings,
  DEFAULT_LAUNCH_HOOK_NAME,
  DEFAULT_RECONCILE_MINUTES,
  DEFAULT_TERMINATE_HOOK_NAME,
  asyncDelivery,
  groupSettings,
  kmsKeyArns,
  reservedConcurrencyOf,
  validateCommandSeconds,
  validateQuiesceSeconds,
  type ReservedConcurrency,
  PropsError,
  settingsJson,
  validateNodes,
  validateReconcileMinutes,
  type SettingsProps,
} from './defaults';
import { buildAlerts, type AlertName } from './alerting';
import { buildDashboard } from './dashboard';
import { automationDocumentContent, commandDocumentContent } from './document-content';
import { growAlarmPattern, instanceAlarmPrefix, lifecyclePattern } from './event-patterns';
import { growthHeadroomMessage, HEADROOM_WARNING_ID } from './growth-headroom';
import { HANDLERS, type HandlerName } from './lambda-bundling';
import { NodeSets, type NodeSpec } from './node-sets';
import { flattenReference } from './finding-ids';
import { statementsFor, type ScopedStatement } from './permissions';

export interface StatefulNodeGroupProps extends SettingsProps {
  /** The group berth manages (one created in this app, or an imported one). */
  readonly autoScalingGroup: autoscaling.IAutoScalingGroup;
  /**
   * The group's name, when `autoScalingGroup.autoScalingGroupName` is a token and you know it.
   * A literal name keeps IAM ARNs, alarm names and event patterns readable.
   * @default autoScalingGroup.autoScalingGroupName
   */
  readonly autoScalingGroupName?: string;
  /**
   * Node sets to create (volume + ENI per node). Without them berth adopts sets tagged by hand.
   * @default - none
   */
  readonly nodes?: readonly NodeSpec[];
  /** Security groups of the created ENIs. @default - none (required with `nodes`) */
  readonly nodeSecurityGroups?: readonly ec2.ISecurityGroup[];
  /** Minutes between two reconciler runs (1–1440). @default 5 */
  readonly reconcileEveryMinutes?: number;
  /** Name of the launch lifecycle hook berth adds to the group. @default 'berth-launch' */
  readonly launchHookName?: string;
  /** Name of the terminate lifecycle hook berth adds to the group. @default 'berth-terminate' */
  readonly terminateHookName?: string;
  /** How long the functions' logs are kept. @default logs.RetentionDays.ONE_MONTH */
  readonly logRetention?: logs.RetentionDays;
  /**
   * The instances' role: gets what the SSM agent and the CloudWatch agent need.
   * @default - none (call `grantToInstanceRole` yourself)
   */
  readonly instanceRole?: iam.IRole;
  /**
   * Ship external source maps with the functions and run them with `--enable-source-maps`
   * (stack traces point at berth's TypeScript). Only where the functions are bundled from source
   * (a checkout of berth); the published package's prebuilt bundles carry no map.
   * @default false
   */
  readonly sourceMaps?: boolean;
  /**
   * Where the operator alarms (dead letters, bad sets, sets half-attached past a reconcile run,
   * grows refused or failed, disk alarms stuck in ALARM, launches abandoned) notify, on ALARM and
   * on the way back to OK.
   * @default - none: the alarms exist with no action
   */
  readonly alertTopic?: sns.ITopic;
  /**
   * Further actions of the operator alarms (on ALARM and OK), beside or instead of `alertTopic`.
   * @default - none
   */
  readonly alertActions?: readonly cloudwatch.IAlarmAction[];
  /**
   * Key ARNs of every customer managed KMS key the group's volumes are encrypted with: the keys of
   * adopted sets, and the account's EBS encryption-by-default key when it is customer managed.
   * `growth.kmsKeyId` is added on its own. EBS uses a key with the permissions of the function that
   * attaches or creates the volume, so without its key a set cannot attach. Key ARNs only: an
   * alias in a policy matches the alias, not its key. The key policies must also let the
   * functions' roles use the keys (the default key policy leaves that to IAM).
   * @default - none: volumes unencrypted or under the AWS managed key `aws/ebs`
   */
  readonly kmsKeys?: readonly string[];
  /**
   * Concurrent executions reserved for berth's functions: one number for each, or per function
   * (`{ launch: 20, terminate: 10 }`). Reserved, a function is never throttled because other
   * functions of the account used up its concurrency (each launch hook waits for its function);
   * it is also the function's ceiling. At least 1: a function with 0 never runs.
   * @default - none: the account's unreserved pool
   */
  readonly reservedConcurrency?: ReservedConcurrency;
}

export class StatefulNodeGroup extends Construct {
  /** Validated settings the functions receive (group name may be a token). */
  public readonly settings: Settings;
  public readonly groupName: string;
  public readonly functions: Record<HandlerName, BerthFunction>;
  public readonly documents: Record<ScriptKey, ssm.CfnDocument>;
  public readonly growNowDocument: ssm.CfnDocument;
  public readonly agentConfig: ssm.StringParameter;
  /** The group's settings JSON (BERTH_SETTINGS) for `berth status`. */
  public readonly settingsParameter: ssm.StringParameter;
  public readonly deadLetterQueue: sqs.Queue;
  /** In ALARM as soon as the dead-letter queue holds a message. */
  public readonly deadLetterAlarm: cloudwatch.Alarm;
  /** The operator alarms by condition (the growth ones only with growth). */
  public readonly alerts: Partial<Record<AlertName, cloudwatch.Alarm>>;
  public readonly rules: {
    launch: events.Rule;
    terminate: events.Rule;
    grow?: events.Rule;
    reconcile: events.Rule;
  };
  public readonly dashboard: cloudwatch.Dashboard;
  public readonly nodeSets?: NodeSets;
  public readonly launchHookName: string;
  public readonly terminateHookName: string;

  constructor(scope: Construct, id: string, props: StatefulNodeGroupProps) {
    super(scope, id);
    const stack = Stack.of(this);

    // ---- validate first, before anything is built or bundled
    // Every mistake in the props becomes one CDK error annotation (one line at `cdk synth`, no stack
    // trace), all of them at once; the construct then builds from placeholder settings so that the
    // app's own code keeps running until synth reports the errors and refuses to deploy.
    const problems: string[] = [];
    const attempt = <T>(validate: () => T): T | undefined => {
      try {
        return validate();
      } catch (error) {
        if (error instanceof ConfigError || error instanceof PropsError) {
          problems.push(error.message);
          return undefined;
        }
        throw error;
      }
    };
    const groupNameOfGroup = literalGroupName(props.autoScalingGroup);
    attempt(() => checkGroupName(props.autoScalingGroupName, groupNameOfGroup));
    const groupName = props.autoScalingGroupName ?? groupNameOfGroup;
    this.groupName = groupName;
    // Physical names come from the group's name when it is known at synth, else from this construct's path.
    const names = berthNames(
      groupName,
      props.alarmPrefix ?? 'berth-',
      Token.isUnresolved(groupName) ? Names.uniqueResourceName(this, { maxLength: 64 }) : undefined,
    );
    const {
      autoScalingGroup: _asg,
      autoScalingGroupName: _name,
      nodes: _nodes,
      nodeSecurityGroups: _sgs,
      reconcileEveryMinutes: _every,
      launchHookName: _lh,
      terminateHookName: _th,
      logRetention: _lr,
      instanceRole: _role,
      sourceMaps: _maps,
      alertTopic: _topic,
      alertActions: _actions,
      kmsKeys: _keys,
      reservedConcurrency: _reserved,
      ...settingsProps
    } = props;
    const resolved = attempt(() => groupSettings(groupName, settingsProps, names.documents).settings);
    if (resolved) attempt(() => checkScopingFilters(resolved));
    if (resolved) attempt(() => validateCommandSeconds(resolved.timeouts));
    if (resolved) attempt(() => validateQuiesceSeconds(resolved.timeouts));
    const requestedNodes = props.nodes ?? [];
    attempt(() => validateNodes(requestedNodes, resolved?.nodeSets ?? true, resolved?.growth?.maxTotalGiB));
    if (
      requestedNodes.length > 0 &&
      resolved?.volumeOnly !== true &&
      (props.nodeSecurityGroups ?? []).length === 0
    ) {
      problems.push('nodeSecurityGroups: the ENIs of the nodes need at least one security group');
    }
    const keyArnOf = (keyId: string) =>
      stack.formatArn({ service: 'kms', resource: 'key', resourceName: keyId });
    const requestedKeys = attempt(() =>
      kmsKeyArns(props.kmsKeys ?? [], resolved?.growth?.kmsKeyId, keyArnOf),
    );
    const requestedReservations = attempt(() =>
      reservedConcurrencyOf(props.reservedConcurrency, resolved?.growth !== undefined),
    );
    const requestedMinutes = props.reconcileEveryMinutes ?? DEFAULT_RECONCILE_MINUTES;
    attempt(() => validateReconcileMinutes(requestedMinutes));
    for (const problem of problems) Annotations.of(this).addError(problem);
    const valid = problems.length === 0 && resolved !== undefined;
    const settings = valid ? resolved : placeholderSettings(names.documents);
    this.settings = settings;
    const nodes = valid ? requestedNodes : [];
    const reconcileMinutes = valid ? requestedMinutes : DEFAULT_RECONCILE_MINUTES;
    const kmsKeys = valid && requestedKeys ? requestedKeys : { attach: [], create: [] };
    const reservations = valid && requestedReservations ? requestedReservations : {};
    const delivery = asyncDelivery(settings, reconcileMinutes);
    // Growth that cannot outrun a writer at the volumes' throughput: a warning naming the fix.
    const headroom = valid ? growthHeadroomMessage(settings, nodes) : undefined;
    if (headroom) Annotations.of(this).addWarningV2(HEADROOM_WARNING_ID, headroom);
    const scripts = readScripts();
    this.launchHookName = props.launchHookName ?? DEFAULT_LAUNCH_HOOK_NAME;
    this.terminateHookName = props.terminateHookName ?? DEFAULT_TERMINATE_HOOK_NAME;

    // ---- SSM Command documents, one per host script, embedded byte for byte
    const docs = {} as Record<ScriptKey, ssm.CfnDocument>;
    for (const key of Object.keys(SCRIPTS) as ScriptKey[]) {
      docs[key] = new ssm.CfnDocument(this, `Document-${key}`, {
        name: settings.documents[key],
        documentType: 'Command',
        documentFormat: 'JSON',
        updateMethod: 'NewVersion',
        content: commandDocumentContent(key, scripts[key], settings.timeouts.commandSeconds),
      });
    }
    this.documents = docs;

    // ---- one DLQ for every asynchronous path (EventBridge targets and the functions' async retries)
    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetters', {
      retentionPeriod: Duration.days(14),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });
    Validations.of(this.deadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'This queue is the dead-letter queue of the functions and rules; it needs none of its own.',
    });

    // ---- the four functions, each with its own role
    const json = settingsJson(settings, groupName);
    const fns = {} as Record<HandlerName, BerthFunction>;
    for (const handler of HANDLERS) {
      if (handler === 'grow' && !settings.growth) continue;
      const fn = new BerthFunction(this, `${capitalize(handler)}`, {
        handler,
        settingsJson: json,
        logRetention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
        deadLetterQueue: this.deadLetterQueue,
        sourceMaps: props.sourceMaps === true,
        asyncDelivery: delivery[handler],
        ...(reservations[handler] !== undefined ? { reservedConcurrency: reservations[handler] } : {}),
      });
      const scoped = statementsFor(capabilitiesOf(handler, settings), {
        stack,
        settings,
        groupName,
        documentNames: Object.values(settings.documents),
        alarmNamePrefix: names.alarmNamePrefix,
        kmsKeys,
      });
      for (const { statement } of scoped) fn.role.addToPolicy(statement);
      acknowledgeWildcards(fn.role, scoped);
      Validations.of(fn.function).acknowledge({
        id: 'AwsSolutions-L1',
        reason:
          'berth pins Node.js 22 (its toolchain, @types/node and tests target 22); the move to a newer runtime is deliberate, not automatic.',
      });
      fns[handler] = fn;
    }
    this.functions = fns;
    // The reconciler's alarm audit takes one shard per run by the time of day: it needs the schedule.
    fns.reconcile.function.addEnvironment(RECONCILE_MINUTES_ENV, String(reconcileMinutes));

    // ---- the disk alarms' action: the grow function (CloudWatch's Lambda alarm action). The
    // functions that create alarms learn its ARN; its resource policy admits this group's alarms only.
    if (fns.grow) {
      for (const fn of [fns.launch, fns.terminate, fns.reconcile]) {
        fn.function.addEnvironment(GROW_FUNCTION_ARN_ENV, fns.grow.function.functionArn);
      }
      fns.grow.function.addPermission('InvokedByDiskAlarms', {
        principal: new iam.ServicePrincipal('lambda.alarms.cloudwatch.amazonaws.com'),
        action: 'lambda:InvokeFunction',
        sourceAccount: stack.account,
        sourceArn: stack.formatArn({
          service: 'cloudwatch',
          resource: 'alarm',
          resourceName: `${instanceAlarmPrefix(names.alarmNamePrefix)}*`,
          arnFormat: ArnFormat.COLON_RESOURCE_NAME,
        }),
      });
    }

    // ---- lifecycle hooks (default results: ABANDON on launch, CONTINUE on terminate)
    const heartbeat = Duration.seconds(settings.timeouts.heartbeatSeconds);
    const asg = props.autoScalingGroup;
    const groupResource = groupDefinition(asg);
    const hooks = [
      {
        lifecycleHookName: this.launchHookName,
        lifecycleTransition: 'autoscaling:EC2_INSTANCE_LAUNCHING',
        defaultResult: 'ABANDON',
        heartbeatTimeout: heartbeat.toSeconds(),
      },
      {
        lifecycleHookName: this.terminateHookName,
        lifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING',
        defaultResult: 'CONTINUE',
        heartbeatTimeout: heartbeat.toSeconds(),
      },
    ];
    // A group created in this app gets its hooks in its own definition, and is created after the
    // rules and functions, so its first instances pass through the launch hook too. The group's
    // resource is recognized by its CloudFormation type, not by `instanceof`: with the app's own
    // copy of aws-cdk-lib the classes differ and the check would silently fall through.
    const cfnAsg = groupResource && !Token.isUnresolved(groupName) ? groupResource : undefined;
    if (groupResource) {
      const existing = groupResource.lifecycleHookSpecificationList;
      if (existing !== undefined && !Array.isArray(existing)) {
        throw new PropsError(
          'autoScalingGroup',
          'its LifecycleHookSpecificationList is a token; berth must add its hooks to it: give the list as an array',
        );
      }
      const taken = (existing ?? []).filter((h) =>
        [this.launchHookName, this.terminateHookName].includes(
          (h as { lifecycleHookName?: string }).lifecycleHookName ?? '',
        ),
      );
      if (taken.length > 0) {
        throw new PropsError(
          'launchHookName',
          `the group already defines a lifecycle hook named ${JSON.stringify((taken[0] as { lifecycleHookName: string }).lifecycleHookName)}; give berth other hook names (launchHookName, terminateHookName)`,
        );
      }
      groupResource.lifecycleHookSpecificationList = [...(existing ?? []), ...hooks];
      if (!cfnAsg) {
        Annotations.of(this).addWarningV2(
          'berth:group-name-token',
          "autoScalingGroup has no name known at synth, so the group cannot wait for berth's rules: its first instances may launch before the rules exist and be abandoned after the heartbeat timeout. Give the group an autoScalingGroupName.",
        );
      }
    } else {
      new autoscaling.CfnLifecycleHook(this, 'LaunchHook', {
        autoScalingGroupName: groupName,
        ...hooks[0],
      } as autoscaling.CfnLifecycleHookProps);
      new autoscaling.CfnLifecycleHook(this, 'TerminateHook', {
        autoScalingGroupName: groupName,
        ...hooks[1],
      } as autoscaling.CfnLifecycleHookProps);
    }

    // ---- EventBridge rules: this group's hooks, this group's alarms, the schedule
    // EventBridge's own retries of a failed delivery end when the event is no longer worth running.
    const target = (fn: BerthFunction, handler: HandlerName) =>
      new targets.LambdaFunction(fn.function, {
        deadLetterQueue: this.deadLetterQueue,
        retryAttempts: delivery[handler].targetRetryAttempts,
        maxEventAge: Duration.seconds(delivery[handler].maxEventAgeSeconds),
      });
    const launch = new events.Rule(this, 'LaunchRule', {
      description: `berth: launch lifecycle actions of ${groupName}`,
      eventPattern: lifecyclePattern('launch', groupName, this.launchHookName),
      targets: [target(fns.launch, 'launch')],
    });
    const terminate = new events.Rule(this, 'TerminateRule', {
      description: `berth: terminate lifecycle actions of ${groupName}`,
      eventPattern: lifecyclePattern('terminate', groupName, this.terminateHookName),
      targets: [target(fns.terminate, 'terminate')],
    });
    const grow = fns.grow
      ? new events.Rule(this, 'GrowRule', {
          // Kept beside the alarms' Lambda action: alarms made by an earlier berth have no action
          // (the reconciler recreates only missing alarms), and a second delivery of one state
          // change costs one short invocation, never a second volume (one ClientToken).
          description: `berth: disk alarms of ${groupName} entering ALARM (also their alarm action)`,
          eventPattern: growAlarmPattern(names.alarmNamePrefix),
          targets: [target(fns.grow, 'grow')],
        })
      : undefined;
    const reconcile = new events.Rule(this, 'ReconcileSchedule', {
      description: `berth: reconcile ${groupName}`,
      schedule: events.Schedule.rate(Duration.minutes(reconcileMinutes)),
      targets: [target(fns.reconcile, 'reconcile')],
    });
    this.rules = { launch, terminate, reconcile, ...(grow ? { grow } : {}) };
    if (cfnAsg) cfnAsg.node.addDependency(launch, terminate, fns.launch, fns.terminate);

    // ---- manual grow: an Automation runbook that invokes the grow function
    let growNow: ssm.CfnDocument | undefined;
    if (fns.grow) {
      const automationRole = new iam.Role(this, 'GrowNowRole', {
        assumedBy: new iam.ServicePrincipal('ssm.amazonaws.com'),
        description: 'berth: the grow-now runbook may invoke the grow function, nothing else',
      });
      fns.grow.function.grantInvoke(automationRole);
      growNow = new ssm.CfnDocument(this, 'GrowNowDocument', {
        name: names.automation,
        documentType: 'Automation',
        documentFormat: 'JSON',
        updateMethod: 'NewVersion',
        content: automationDocumentContent(fns.grow.function.functionArn, automationRole.roleArn),
      });
      acknowledgeWildcards(automationRole, [
        {
          statement: new iam.PolicyStatement({ resources: [`${fns.grow.function.functionArn}:*`] }),
          wildcardReason:
            'lambda:InvokeFunction on the grow function and its versions (CDK grantInvoke), nothing else.',
        },
      ]);
    }
    this.growNowDocument = growNow as ssm.CfnDocument;

    // ---- the CloudWatch agent configuration the hosts fetch
    this.agentConfig = new ssm.StringParameter(this, 'AgentConfig', {
      parameterName: names.agentConfigParameter,
      description: `berth: CloudWatch agent configuration for ${groupName}`,
      stringValue: JSON.stringify(
        cloudWatchAgentConfig({
          mountPoint: settings.mountPoint,
          intervalSeconds: settings.growth?.alarm.periodSeconds ?? 60,
        }),
      ),
    });
    if (props.instanceRole) {
      this.grantToInstanceRole(props.instanceRole);
      const importedRole = importedRoleWarning(props.instanceRole);
      if (importedRole) Annotations.of(this).addWarningV2('berth:imported-instance-role', importedRole);
    }

    // ---- the settings, for operators' tools (`npx berth status --group NAME` reads them)
    this.settingsParameter = new ssm.StringParameter(this, 'SettingsParameter', {
      parameterName: names.settingsParameter,
      description: `berth: settings of ${groupName} (what its functions receive), read by berth status`,
      stringValue: json,
    });

    // ---- node sets (optional)
    if (nodes.length > 0) {
      this.nodeSets = new NodeSets(this, 'NodeSets', {
        groupName,
        nodes,
        filters: settings.filters,
        nodeIdTagKey: settings.nodeIdTagKey,
        ordinalTagKey: settings.ordinalTagKey,
        ownerTagKey: settings.ownerTagKey,
        securityGroups: props.nodeSecurityGroups ?? [],
        volumeOnly: settings.volumeOnly,
        ...(settings.growth?.kmsKeyId ? { kmsKeyId: settings.growth.kmsKeyId } : {}),
      });
    }
    // The group's first instances go through the launch flow at once: the documents it sends and
    // the sets it claims must exist before the group does, or those launches are abandoned.
    if (cfnAsg)
      cfnAsg.node.addDependency(...Object.values(this.documents), ...(this.nodeSets ? [this.nodeSets] : []));

    // ---- operator alarms (anything in the dead-letter queue is an event berth lost) and dashboard
    this.alerts = buildAlerts(this, {
      namespace: settings.metricsNamespace,
      groupName,
      reconcileMinutes,
      growth: settings.growth !== undefined,
      deadLetterQueue: this.deadLetterQueue,
      ...(props.alertTopic ? { topic: props.alertTopic } : {}),
      ...(props.alertActions ? { actions: props.alertActions } : {}),
    });
    this.deadLetterAlarm = this.alerts.deadLetters as cloudwatch.Alarm;
    this.dashboard = buildDashboard(this, 'Dashboard', {
      dashboardName: names.dashboard,
      namespace: settings.metricsNamespace,
      groupName,
      growth: settings.growth !== undefined,
      functions: Object.fromEntries(Object.entries(fns).map(([h, fn]) => [h, fn.function])),
      deadLetterQueue: this.deadLetterQueue,
      alarms: Object.values(this.alerts),
    });
  }

  /** What the instances need: the SSM agent (managed policy), the agent config, CWAgent metrics. */
  public grantToInstanceRole(role: iam.IRole): void {
    role.addManagedPolicy(iam.ManagedPolicy.fromAwsManagedPolicyName('AmazonSSMManagedInstanceCore'));
    this.agentConfig.grantRead(role);
    const statement = new iam.PolicyStatement({
      sid: 'PublishAgentMetrics',
      actions: ['cloudwatch:PutMetricData'],
      resources: ['*'],
      conditions: { StringEquals: { 'cloudwatch:namespace': AGENT_NAMESPACE } },
    });
    role.addToPrincipalPolicy(statement);
    Validations.of(role).acknowledge(
      {
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonSSMManagedInstanceCore]',
        reason:
          "The SSM agent's documented, AWS-maintained policy; berth needs Run Command on the hosts and its endpoints admit no narrower resources.",
      },
      {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: `PutMetricData has no resource type; the condition limits the CloudWatch agent to the ${AGENT_NAMESPACE} namespace.`,
      },
    );
  }
}

/** What berth reads and writes on the group's CloudFormation resource (any copy of aws-cdk-lib). */
interface GroupDefinition {
  readonly cfnResourceType: string;
  readonly autoScalingGroupName?: string;
  lifecycleHookSpecificationList?: unknown;
  readonly node: { addDependency(...deps: unknown[]): void };
}

/**
 * The CloudFormation resource of a group defined in this app (`AWS::AutoScaling::AutoScalingGroup`
 * as the group's default child), found by its type so that a group built with the app's own copy
 * of aws-cdk-lib is recognized; undefined for an imported group.
 */
export function groupDefinition(asg: autoscaling.IAutoScalingGroup): GroupDefinition | undefined {
  const child = asg.node.defaultChild as Partial<GroupDefinition> | undefined;
  return child?.cfnResourceType === 'AWS::AutoScaling::AutoScalingGroup'
    ? (child as GroupDefinition)
    : undefined;
}

/** The group's name as a string: the literal name of a group defined in this app, if it has one. */
function literalGroupName(asg: autoscaling.IAutoScalingGroup): string {
  const name = groupDefinition(asg)?.autoScalingGroupName;
  if (typeof name === 'string' && !Token.isUnresolved(name)) return name;
  return asg.autoScalingGroupName;
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/**
 * Acknowledges on `scope` (a role) the cdk-nag IAM5 finding of every wildcard resource left in its
 * statements, with the reasons given beside them; one acknowledgement per finding.
 */
function acknowledgeWildcards(scope: Construct, scoped: readonly ScopedStatement[]): void {
  const stack = Stack.of(scope);
  const reasons = new Map<string, string[]>();
  for (const { statement, wildcardReason } of scoped) {
    const json = statement.toStatementJson() as { Resource?: unknown };
    for (const resource of ([] as unknown[]).concat(json.Resource ?? [])) {
      const text = flattenReference(stack.resolve(resource));
      if (!text.includes('*')) continue;
      if (!wildcardReason) throw new Error(`wildcard resource ${text} has no reason`);
      const id = `AwsSolutions-IAM5[Resource::${text}]`;
      // One sentence per fact: several statements on one ARN pattern share their first sentence.
      const list = reasons.get(id) ?? [];
      for (const sentence of wildcardReason.split(/(?<=\.) /))
        if (!list.includes(sentence)) list.push(sentence);
      reasons.set(id, list);
    }
  }
  for (const [id, list] of reasons) Validations.of(scope).acknowledge({ id, reason: list.join(' ') });
}
