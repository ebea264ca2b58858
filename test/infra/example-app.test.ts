/**
 * The example app synthesized once, in process, with cdk-nag (what `npm run synth` does), and every
 * resource and permission asserted on that one template. Variants of the construct follow; they
 * reuse the bundles of the first synthesis (same process, same asset cache).
 */
import { App, Fn, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveSettings, SETTINGS_ENV, type GroupSettingsInput } from '../../lambdas/shared/config';
import { SCRIPTS, type ScriptKey } from '../../lambdas/shared/documents';
import { parseRequest } from '../../lambdas/grow/index';
import { buildApp } from '../../infra/app';
import { assembledScripts } from '../../infra/agent-scripts';
import { COMMAND_PARAMETERS } from '../../infra/document-content';
import {
  AGENT_TARGET_TAG,
  EXAMPLE_FILTERS,
  EXAMPLE_GROUP_NAME,
  ExampleStack,
  exampleContextProblems,
  UBUNTU_2404_ARM64,
} from '../../infra/example-stack';
import { StatefulNodeGroup } from '../../infra/stateful-node-group';
import { matches } from './event-matcher';
import { DEFAULT_RECONCILE_MINUTES } from '../../infra/defaults';

type Json = Record<string, unknown>;
interface Statement {
  Sid?: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}

const GROUP = EXAMPLE_GROUP_NAME;
const GROUP_ARN_SUFFIX = `:autoScalingGroup:*:autoScalingGroupName/${GROUP}`;

let outdir: string;
let app: App;
let template: Template;
let resources: Record<
  string,
  {
    Type: string;
    Properties: Json;
    DependsOn?: string[];
    DeletionPolicy?: string;
    UpdateReplacePolicy?: string;
  }
>;
let synthSeconds: number;
let synthCpuSeconds: number;

beforeAll(() => {
  outdir = mkdtempSync(join(tmpdir(), 'berth-synth-'));
  const started = process.hrtime.bigint();
  const cpuBefore = process.cpuUsage();
  ({ app } = buildApp({ outdir }));
  // The same synthesis as `cdk synth`: cdk-nag runs as a validation plugin and stops it on any finding.
  const assembly = app.synth();
  synthSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = process.cpuUsage(cpuBefore);
  synthCpuSeconds = (cpu.user + cpu.system) / 1e6;
  const json = assembly.getStackByName('BerthExample').template as { Resources: typeof resources };
  template = Template.fromJSON(json);
  resources = json.Resources;
  console.log(
    `example app synthesized with cdk-nag in ${synthSeconds.toFixed(1)} s (${synthCpuSeconds.toFixed(1)} s CPU in this process)`,
  );
  // A generous bound for a loaded 2-core machine; the synthesis's CPU time is asserted below 60 s.
}, 180_000);

afterAll(() => rmSync(outdir, { recursive: true, force: true }));

const flat = (value: unknown): string => JSON.stringify(value);
const actionsOf = (s: Statement) => ([] as string[]).concat(s.Action);
const resourcesOf = (s: Statement) => ([] as unknown[]).concat(s.Resource);

/** Statements of the role whose logical id starts with `prefix` (e.g. BerthLaunchRole). */
function statementsOf(prefix: string): Statement[] {
  return Object.entries(resources)
    .filter(([id, r]) => r.Type === 'AWS::IAM::Policy' && id.startsWith(`${prefix}DefaultPolicy`))
    .flatMap(([, r]) => (r.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
}
const allStatements = () =>
  Object.values(resources)
    .filter((r) => r.Type === 'AWS::IAM::Policy')
    .flatMap((r) => (r.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
const withAction = (statements: Statement[], action: string) =>
  statements.filter((s) => actionsOf(s).includes(action));

const tagsOf = (properties: Json): Record<string, string> =>
  Object.fromEntries((properties.Tags as { Key: string; Value: string }[]).map((t) => [t.Key, t.Value]));

const ROLES = {
  launch: 'BerthLaunchRole',
  terminate: 'BerthTerminateRole',
  grow: 'BerthGrowRole',
  reconcile: 'BerthReconcileRole',
};

describe('the example app', () => {
  it('synthesizes offline with cdk-nag AwsSolutions and no unacknowledged finding', () => {
    const report = new AwsSolutionsChecks(app).validateScope(app);
    expect(
      report.violations.map(
        (v) => `${v.ruleName} ${v.violatingResources.map((r) => r.constructPath).join(',')}`,
      ),
    ).toEqual([]);
    expect(report.success).toBe(true);
    // Wall time depends on what else the shared machine runs; the work itself is bounded by CPU time.
    expect(synthCpuSeconds).toBeLessThan(60);
    expect(synthSeconds).toBeGreaterThan(0);
  });

  it('states a reason for every cdk-nag acknowledgement', () => {
    const acknowledgements: [string, string][] = [];
    const visit = (c: IConstruct) => {
      for (const entry of c.node.metadata) {
        if (entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY) {
          acknowledgements.push(...Object.entries(entry.data as Record<string, string>));
        }
      }
      c.node.children.forEach(visit);
    };
    visit(app);
    console.log(
      `${acknowledgements.length} cdk-nag acknowledgements:\n${acknowledgements.map(([id, why]) => `  ${id}: ${why}`).join('\n')}`,
    );
    expect(acknowledgements.length).toBeGreaterThan(0);
    for (const [id, reason] of acknowledgements)
      expect({ id, long: reason.length > 40 }).toEqual({ id, long: true });
  });

  it('would be stopped by cdk-nag: the checks are live', () => {
    const other = new App();
    new sqs.Queue(new Stack(other, 'Plain'), 'Queue');
    const report = new AwsSolutionsChecks(other).validateScope(other);
    expect(report.violations.map((v) => v.ruleName)).toEqual(
      expect.arrayContaining(['AwsSolutions-SQS3', 'AwsSolutions-SQS4']),
    );
  });

  describe('IAM', () => {
    it('grants no wildcard action (no ec2:*, no service:Describe*)', () => {
      const actions = allStatements().flatMap(actionsOf);
      expect(actions.length).toBeGreaterThan(20);
      expect(actions.filter((a) => a.includes('*'))).toEqual([]);
    });

    it('keeps Resource "*" for calls without resource-level permissions only', () => {
      const noResourceLevel = new Set([
        'ec2:DescribeInstances',
        'ec2:DescribeVolumes',
        'ec2:DescribeVolumesModifications',
        'ec2:DescribeNetworkInterfaces',
        'ec2:DescribeSubnets',
        'ec2:DescribeInstanceTypes',
        'autoscaling:DescribeAutoScalingGroups',
        'autoscaling:DescribeAutoScalingInstances',
        'ssm:DescribeInstanceInformation',
        'ssm:ListCommandInvocations',
        'ssm:GetCommandInvocation',
        'cloudwatch:PutMetricData', // the node role's CWAgent metrics
      ]);
      const star = allStatements().filter((s) => resourcesOf(s).includes('*'));
      expect(star.length).toBeGreaterThan(0);
      for (const s of star)
        for (const a of actionsOf(s))
          expect({ a, allowed: noResourceLevel.has(a) }).toEqual({ a, allowed: true });
      for (const s of withAction(star, 'cloudwatch:PutMetricData')) {
        expect(s.Condition?.StringEquals?.['cloudwatch:namespace']).toMatch(/^(Berth|CWAgent)$/);
      }
    });

    it('deletes only volumes berth owns that belong to no node set or never joined a filesystem (pending, refused), and only from grow and reconcile', () => {
      expect(withAction(statementsOf(ROLES.launch), 'ec2:DeleteVolume')).toEqual([]);
      expect(withAction(statementsOf(ROLES.terminate), 'ec2:DeleteVolume')).toEqual([]);
      for (const role of [ROLES.grow, ROLES.reconcile]) {
        const statements = withAction(statementsOf(role), 'ec2:DeleteVolume');
        // Only the reconciler reaps scratch volumes (no NodeID) of vanished instances.
        const scratch = role === ROLES.reconcile;
        expect(statements.map((s) => s.Condition)).toEqual([
          ...(scratch
            ? [
                {
                  StringEquals: { 'aws:ResourceTag/berth:group': GROUP },
                  Null: { 'aws:ResourceTag/NodeID': 'true' },
                },
              ]
            : []),
          {
            StringEquals: {
              'aws:ResourceTag/berth:group': GROUP,
              'aws:ResourceTag/berth:grow-state': ['pending', 'refused'],
            },
          },
        ]);
        for (const s of statements) {
          expect(actionsOf(s)).toEqual(['ec2:DeleteVolume']);
          expect(flat(s.Resource)).toContain(':ec2:eu-west-1:111111111111:volume/*');
        }
      }
    });

    it('creates volumes only encrypted and with the owner tag; afterwards only growth state tags change, and a joined volume never becomes deletable', () => {
      expect(withAction(statementsOf(ROLES.launch), 'ec2:CreateVolume')).toEqual([]);
      const [create] = withAction(statementsOf(ROLES.grow), 'ec2:CreateVolume');
      expect(create?.Condition).toEqual({
        StringEquals: { 'aws:RequestTag/berth:group': GROUP },
        Bool: { 'ec2:Encrypted': 'true' },
      });
      const volumeTags = withAction(statementsOf(ROLES.grow), 'ec2:CreateTags').filter((s) =>
        flat(s.Resource).includes(':volume/*'),
      );
      expect(volumeTags).toHaveLength(4);
      const sid = (name: string) => volumeTags.find((v) => v.Sid === name);
      const [atCreation, onOwned, onSets, refuse] = [
        'TagVolumesAtCreation',
        'GrowthStateOnOwnedVolumes',
        'GrowthStateOnNodeSetVolumes',
        'RefuseVolumesTheHostRefused',
      ].map(sid);
      expect(atCreation?.Condition).toEqual({ StringEquals: { 'ec2:CreateAction': 'CreateVolume' } });
      for (const later of [onOwned, onSets]) {
        expect(later?.Condition?.['ForAllValues:StringEquals']).toEqual({
          'aws:TagKeys': [
            'berth:grow-state',
            'berth:grow-token',
            'berth:modifications',
            'berth:expand-token',
            'berth:expand-state',
          ],
        });
        // Never into a deletable state: pending is CreateVolume's, refused has its own statement.
        expect(later?.Condition?.StringNotEquals).toEqual({
          'aws:RequestTag/berth:grow-state': ['pending', 'refused'],
        });
      }
      expect(onOwned?.Condition?.StringEquals).toEqual({ 'aws:ResourceTag/berth:group': GROUP });
      expect(onSets?.Condition?.StringEquals).toEqual({
        'aws:ResourceTag/Service': ['etcd'],
        'aws:ResourceTag/Env': ['example'],
      });
      // refused only over joining: a volume that joined (joined/unknown) never becomes deletable.
      expect(refuse?.Condition).toEqual({
        'ForAllValues:StringEquals': { 'aws:TagKeys': ['berth:grow-state'] },
        StringEquals: {
          'aws:ResourceTag/berth:group': GROUP,
          'aws:RequestTag/berth:grow-state': 'refused',
          'aws:ResourceTag/berth:grow-state': 'joining',
        },
      });
      for (const s of volumeTags)
        expect(flat(s.Condition)).not.toMatch(/TagKeys":\[[^\]]*"(NodeID|berth:ordinal|berth:group)"/);
    });

    it('tags only instances of this group, and only with the NodeID and the prepared mark', () => {
      const [s, ...more] = withAction(statementsOf(ROLES.launch), 'ec2:CreateTags');
      expect(more).toEqual([]);
      expect(flat(s?.Resource)).toContain(':instance/*');
      expect(s?.Condition).toEqual({
        StringEquals: { 'aws:ResourceTag/aws:autoscaling:groupName': GROUP },
        'ForAllValues:StringEquals': { 'aws:TagKeys': ['NodeID', 'berth:prepared'] },
      });
    });

    it("attaches and detaches only this group's instances and the volumes/ENIs its filters select", () => {
      const statements = statementsOf(ROLES.launch);
      for (const action of [
        'ec2:AttachVolume',
        'ec2:DetachVolume',
        'ec2:AttachNetworkInterface',
        'ec2:DetachNetworkInterface',
      ]) {
        const found = withAction(statements, action);
        expect(found.length).toBeGreaterThanOrEqual(2);
        for (const s of found) expect(s.Condition).toBeDefined();
      }
      const setVolumes = statements.find((s) => s.Sid === 'NodeSetVolumes');
      expect(setVolumes?.Condition).toEqual({
        StringEquals: { 'aws:ResourceTag/Service': ['etcd'], 'aws:ResourceTag/Env': ['example'] },
        Null: { 'aws:ResourceTag/NodeID': 'false' },
      });
      expect(statements.find((s) => s.Sid === 'NodeSetInterfaces')?.Condition).toEqual(setVolumes?.Condition);
      expect(statements.find((s) => s.Sid === 'InstancesOfThisGroup')?.Condition).toEqual({
        StringEquals: { 'aws:ResourceTag/aws:autoscaling:groupName': GROUP },
      });
    });

    it("completes lifecycle actions on this group's ARN only, and grow and reconcile not at all", () => {
      for (const role of [ROLES.launch, ROLES.terminate]) {
        const [s, ...more] = withAction(statementsOf(role), 'autoscaling:CompleteLifecycleAction');
        expect(more).toEqual([]);
        expect(actionsOf(s as Statement)).toEqual([
          'autoscaling:CompleteLifecycleAction',
          'autoscaling:RecordLifecycleActionHeartbeat',
        ]);
        expect(flat(s?.Resource)).toContain(GROUP_ARN_SUFFIX);
      }
      for (const role of [ROLES.grow, ROLES.reconcile])
        expect(withAction(statementsOf(role), 'autoscaling:CompleteLifecycleAction')).toEqual([]);
    });

    it("sends only berth's documents, only to this group's instances", () => {
      for (const role of Object.values(ROLES)) {
        const send = withAction(statementsOf(role), 'ssm:SendCommand');
        expect(send).toHaveLength(2);
        const documents = send.find((s) => flat(s.Resource).includes(':document/'));
        expect(resourcesOf(documents as Statement).map(flat)).toEqual([
          expect.stringContaining(`document/berth-${GROUP}-prepare-node`),
          expect.stringContaining(`document/berth-${GROUP}-quiesce-node`),
          expect.stringContaining(`document/berth-${GROUP}-grow-filesystem`),
        ]);
        const instances = send.find((s) => flat(s.Resource).includes(':instance/*'));
        expect(instances?.Condition).toEqual({
          StringEquals: { 'ssm:resourceTag/aws:autoscaling:groupName': GROUP },
        });
      }
    });

    it("manages only this group's instance alarms", () => {
      for (const role of Object.values(ROLES)) {
        const [s, ...more] = withAction(statementsOf(role), 'cloudwatch:PutMetricAlarm');
        expect(more).toEqual([]);
        expect(actionsOf(s as Statement).sort()).toEqual([
          'cloudwatch:DeleteAlarms',
          'cloudwatch:PutMetricAlarm',
          'cloudwatch:SetAlarmState',
          'cloudwatch:TagResource',
        ]);
        expect(flat(s?.Resource)).toContain(`:cloudwatch:eu-west-1:111111111111:alarm:berth-${GROUP}-i-*`);
        // Listing by prefix is authorized against alarm:* (read-only, a statement of its own),
        // and only the reconciler lists.
        const lists = withAction(statementsOf(role), 'cloudwatch:DescribeAlarms');
        if (role !== ROLES.reconcile) {
          expect(lists).toEqual([]);
          continue;
        }
        const [list, ...others] = lists;
        expect(others).toEqual([]);
        expect(actionsOf(list as Statement)).toEqual(['cloudwatch:DescribeAlarms']);
        expect(flat(list?.Resource)).toContain(':cloudwatch:eu-west-1:111111111111:alarm:*');
      }
    });

    it("writes each function's logs to its own log group only (no AWSLambdaBasicExecutionRole)", () => {
      for (const role of Object.values(ROLES)) {
        const [logsStatement] = withAction(statementsOf(role), 'logs:PutLogEvents');
        expect(flat(logsStatement?.Resource)).toMatch(/Berth\w+Logs\w+","Arn"/);
      }
      const functionRoles = Object.entries(resources).filter(
        ([id, r]) =>
          r.Type === 'AWS::IAM::Role' && Object.values(ROLES).some((prefix) => id.startsWith(prefix)),
      );
      expect(functionRoles).toHaveLength(4);
      for (const [, r] of functionRoles) expect(r.Properties.ManagedPolicyArns).toBeUndefined();
    });
  });

  describe('node sets', () => {
    it('creates three encrypted gp3 volumes that survive cdk destroy, tagged for the filters, the owner and ordinal 0', () => {
      const volumes = Object.values(resources).filter((r) => r.Type === 'AWS::EC2::Volume');
      expect(volumes).toHaveLength(3);
      for (const v of volumes) {
        expect(v.DeletionPolicy).toBe('Retain');
        expect(v.UpdateReplacePolicy).toBe('Retain');
      }
      const byNode = Object.fromEntries(volumes.map((v) => [tagsOf(v.Properties).NodeID, v.Properties]));
      for (const [i, az] of ['eu-west-1a', 'eu-west-1b', 'eu-west-1c'].entries()) {
        const v = byNode[`etcd-${i}`] as Json;
        expect(v).toMatchObject({ Encrypted: true, VolumeType: 'gp3', Size: 20, AvailabilityZone: az });
        expect(tagsOf(v)).toEqual({
          NodeID: `etcd-${i}`,
          'berth:ordinal': '0',
          'berth:group': GROUP,
          Service: 'etcd',
          Env: 'example',
        });
      }
    });

    it('creates one retained ENI per node in its subnet, with the security group and the same tags but no ordinal', () => {
      const enis = Object.values(resources).filter((r) => r.Type === 'AWS::EC2::NetworkInterface');
      expect(enis.map((r) => tagsOf(r.Properties).NodeID).sort()).toEqual(['etcd-0', 'etcd-1', 'etcd-2']);
      for (const eni of enis) {
        expect([eni.DeletionPolicy, eni.UpdateReplacePolicy]).toEqual(['Retain', 'Retain']);
        expect(eni.Properties).toMatchObject({
          SubnetId: { Ref: expect.stringMatching(/^VpcnodesSubnet/) },
          GroupSet: [{ 'Fn::GetAtt': [expect.stringMatching(/^NodeSecurityGroup/), 'GroupId'] }],
        });
        expect(tagsOf(eni.Properties)).toEqual({
          NodeID: tagsOf(eni.Properties).NodeID,
          'berth:group': GROUP,
          Service: 'etcd',
          Env: 'example',
        });
      }
    });
  });

  describe('lifecycle and events', () => {
    it('puts both hooks into the group itself and creates the group after the functions, rules, documents and sets', () => {
      template.hasResourceProperties('AWS::AutoScaling::AutoScalingGroup', {
        AutoScalingGroupName: GROUP,
        MinSize: '4',
        MaxSize: '4',
        LifecycleHookSpecificationList: [
          {
            LifecycleHookName: 'berth-launch',
            LifecycleTransition: 'autoscaling:EC2_INSTANCE_LAUNCHING',
            DefaultResult: 'ABANDON',
            HeartbeatTimeout: 900,
          },
          {
            LifecycleHookName: 'berth-terminate',
            LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING',
            DefaultResult: 'CONTINUE',
            HeartbeatTimeout: 900,
          },
        ],
      });
      const group = Object.values(resources).find((r) => r.Type === 'AWS::AutoScaling::AutoScalingGroup');
      const dependsOn = group?.DependsOn ?? [];
      for (const prefix of [
        'BerthLaunchRule',
        'BerthTerminateRule',
        'BerthLaunchFunction',
        'BerthLaunchRoleDefaultPolicy',
        'BerthTerminateFunction',
        'BerthDocumentprepareNode',
        'BerthDocumentquiesceNode',
        'BerthDocumentgrowFilesystem',
        'BerthNodeSetsVolumeetcd0',
        'BerthNodeSetsInterfaceetcd2',
      ]) {
        expect({ prefix, found: dependsOn.some((d) => d.startsWith(prefix)) }).toEqual({
          prefix,
          found: true,
        });
      }
    });

    const rule = (prefix: string) =>
      Object.entries(resources).find(
        ([id, r]) => r.Type === 'AWS::Events::Rule' && id.startsWith(prefix),
      )?.[1].Properties as Json;
    const lifecycleEvent = (kind: string, group: string, hook: string) => ({
      source: 'aws.autoscaling',
      'detail-type': `EC2 Instance-${kind} Lifecycle Action`,
      detail: {
        AutoScalingGroupName: group,
        LifecycleHookName: hook,
        EC2InstanceId: 'i-0123456789abcdef0',
        LifecycleActionToken: 't',
      },
    });
    const alarmEvent = (alarmName: string, value: string) => ({
      source: 'aws.cloudwatch',
      'detail-type': 'CloudWatch Alarm State Change',
      detail: { alarmName, state: { value } },
    });

    it("routes this group's launch and terminate actions, not another group's", () => {
      const launch = rule('BerthLaunchRule').EventPattern as Json;
      const terminate = rule('BerthTerminateRule').EventPattern as Json;
      expect(matches(launch, lifecycleEvent('launch', GROUP, 'berth-launch'))).toBe(true);
      expect(matches(launch, lifecycleEvent('launch', `${GROUP}-2`, 'berth-launch'))).toBe(false);
      expect(matches(launch, lifecycleEvent('terminate', GROUP, 'berth-terminate'))).toBe(false);
      expect(matches(terminate, lifecycleEvent('terminate', GROUP, 'berth-terminate'))).toBe(true);
      expect(matches(terminate, lifecycleEvent('terminate', 'kafka', 'berth-terminate'))).toBe(false);
    });

    it("routes this group's disk alarms entering ALARM to grow, not another group's", () => {
      const grow = rule('BerthGrowRule').EventPattern as Json;
      expect(matches(grow, alarmEvent(`berth-${GROUP}-i-0123456789abcdef0`, 'ALARM'))).toBe(true);
      expect(matches(grow, alarmEvent(`berth-${GROUP}-i-0123456789abcdef0`, 'OK'))).toBe(false);
      expect(matches(grow, alarmEvent(`berth-${GROUP}-2-i-0123456789abcdef0`, 'ALARM'))).toBe(false);
    });

    it('runs the reconciler every 5 minutes', () => {
      expect(rule('BerthReconcileSchedule').ScheduleExpression).toBe('rate(5 minutes)');
    });

    it('gives every rule target and every function a dead-letter queue, watched by an alarm', () => {
      const rules = Object.entries(resources).filter(([, r]) => r.Type === 'AWS::Events::Rule');
      expect(rules).toHaveLength(4);
      // Retried while the event is worth it: the hooks' 900 s heartbeat, the 10 s alarm's window
      // (60 s, Lambda's least), the 5-minute schedule.
      const ages: Record<string, number> = { Launch: 900, Terminate: 900, Grow: 60, Reconcile: 300 };
      for (const [id, r] of rules) {
        const age = ages[/^Berth(Launch|Terminate|Grow|Reconcile)/.exec(id)?.[1] ?? ''];
        for (const t of r.Properties.Targets as Json[]) {
          expect(flat(t.DeadLetterConfig)).toContain('BerthDeadLetters');
          expect({ id, retry: t.RetryPolicy }).toEqual({
            id,
            retry: { MaximumRetryAttempts: 8, MaximumEventAgeInSeconds: age },
          });
        }
      }
      template.allResourcesProperties('AWS::Lambda::Function', {
        DeadLetterConfig: {
          TargetArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^BerthDeadLetters'), 'Arn'] },
        },
      });
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Namespace: 'AWS/SQS',
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        Dimensions: [
          {
            Name: 'QueueName',
            Value: { 'Fn::GetAtt': [Match.stringLikeRegexp('^BerthDeadLetters'), 'QueueName'] },
          },
        ],
      });
      template.hasResourceProperties('AWS::SQS::Queue', {
        SqsManagedSseEnabled: true,
        MessageRetentionPeriod: 1209600,
      });
      template.hasResourceProperties('AWS::SQS::QueuePolicy', {
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          ]),
        },
      });
    });
  });

  describe('functions', () => {
    it('run Node.js 22 on arm64 with a log group that expires, and no source maps by default', () => {
      template.resourceCountIs('AWS::Lambda::Function', 4);
      template.allResourcesProperties('AWS::Lambda::Function', {
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        Handler: 'index.handler',
        LoggingConfig: { LogGroup: Match.anyValue() },
        Environment: {
          Variables: { BERTH_SETTINGS: Match.anyValue(), NODE_OPTIONS: Match.absent() },
        },
      });
      template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
    });

    it('ship minified bundles without source maps (no .map file, no inline map)', () => {
      const bundles = readdirSync(outdir)
        .filter((dir) => dir.startsWith('asset.') && existsSync(join(outdir, dir, 'index.js')))
        .map((dir) => join(outdir, dir));
      expect(bundles).toHaveLength(4);
      for (const dir of bundles) {
        expect(readdirSync(dir)).toEqual(['index.js']);
        const code = readFileSync(join(dir, 'index.js'), 'utf8');
        expect(code).not.toContain('sourceMappingURL');
        // The SDK resolved through its ES module builds and minified: about 1 MB, was 1.9 MB + a 7 MB map.
        expect(code.length).toBeLessThan(1_400_000);
      }
    });

    it('receive settings the Lambdas accept at cold start, naming the documents this stack creates', () => {
      const documentNames = Object.values(resources)
        .filter((r) => r.Type === 'AWS::SSM::Document' && r.Properties.DocumentType === 'Command')
        .map((r) => r.Properties.Name);
      for (const fn of Object.values(resources).filter((r) => r.Type === 'AWS::Lambda::Function')) {
        const env = (fn.Properties.Environment as { Variables: Record<string, string> }).Variables;
        // and BERTH_GROW_FUNCTION_ARN, the disk alarms' action (test/infra/alarm-action.test.ts),
        // and the reconciler's schedule, which its alarm audit rotates by
        expect(
          Object.keys(env)
            .filter((k) => k !== 'BERTH_GROW_FUNCTION_ARN' && k !== 'BERTH_RECONCILE_MINUTES')
            .sort(),
        ).toEqual(['BERTH_SETTINGS']);
        if (String(fn.Properties.Description).endsWith('reconcile')) {
          expect(env.BERTH_RECONCILE_MINUTES).toBe(String(DEFAULT_RECONCILE_MINUTES));
        }
        const input = JSON.parse(env[SETTINGS_ENV] as string) as GroupSettingsInput;
        const settings = resolveSettings(input);
        expect(settings.groupName).toBe(GROUP);
        expect(settings.filters).toBe(EXAMPLE_FILTERS);
        expect(settings.mountPoint).toBe('/var/lib/etcd');
        expect(settings.growth?.strategy).toBe('add-device');
        expect(Object.values(settings.documents).sort()).toEqual([...documentNames].sort());
      }
    });
  });

  describe('SSM documents', () => {
    const commandDocuments = () =>
      Object.fromEntries(
        Object.values(resources)
          .filter((r) => r.Type === 'AWS::SSM::Document' && r.Properties.DocumentType === 'Command')
          .map((r) => [r.Properties.Name as string, r.Properties]),
      );
    const keyOf = (key: ScriptKey) => `berth-${GROUP}-${SCRIPTS[key].replace(/\.sh$/, '')}`;

    it.each(Object.keys(SCRIPTS) as ScriptKey[])(
      '%s embeds its assembled agent script byte for byte as one runCommand element',
      (key) => {
        const doc = commandDocuments()[keyOf(key)] as {
          Content: { mainSteps: { inputs: { runCommand: string[] } }[] };
          UpdateMethod: string;
        };
        const embedded = doc.Content.mainSteps[0]?.inputs.runCommand;
        expect(embedded).toHaveLength(1);
        expect(embedded?.[0]).toBe(assembledScripts()[key]);
        expect(embedded?.[0]?.startsWith('#!/usr/bin/env bash\n')).toBe(true);
        expect(doc.UpdateMethod).toBe('NewVersion');
        expect(Buffer.byteLength(JSON.stringify(doc.Content))).toBeLessThan(64 * 1024);
      },
    );

    it.each(Object.keys(SCRIPTS) as ScriptKey[])(
      "%s declares exactly the script contract's parameters, each read by the script from SSM_<Name>",
      (key) => {
        const doc = commandDocuments()[keyOf(key)] as {
          Content: { schemaVersion: string; parameters: Record<string, Json> };
        };
        expect(doc.Content.schemaVersion).toBe('2.2');
        const names = Object.keys(doc.Content.parameters).sort();
        expect(names).toEqual(Object.keys(COMMAND_PARAMETERS[key]).sort());
        const script = assembledScripts()[key];
        for (const name of names) {
          expect(doc.Content.parameters[name]).toMatchObject({
            interpolationType: 'ENV_VAR',
            allowedPattern: expect.stringMatching(/^\^.+\$$/),
          });
          expect({ name, read: script.includes(`SSM_${name}`) }).toEqual({ name, read: true });
        }
      },
    );

    it('offers a grow-now runbook that only invokes the grow function, with a validated instance id', () => {
      template.hasResourceProperties('AWS::SSM::Document', {
        DocumentType: 'Automation',
        Name: `berth-${GROUP}-grow-now`,
        Content: Match.objectLike({
          schemaVersion: '0.3',
          parameters: Match.objectLike({
            InstanceId: Match.objectLike({ allowedPattern: '^i-[0-9a-f]{8,17}$' }),
            SizeGiB: Match.objectLike({ default: '0', allowedPattern: '^(0|[1-9][0-9]{0,4})$' }),
          }),
          mainSteps: Match.arrayWith([
            Match.objectLike({
              action: 'aws:invokeLambdaFunction',
              inputs: Match.objectLike({
                FunctionName: { 'Fn::GetAtt': [Match.stringLikeRegexp('^BerthGrowFunction'), 'Arn'] },
              }),
            }),
          ]),
        }),
      });
      const [invoke, ...more] = statementsOf('BerthGrowNowRole');
      expect(more).toEqual([]);
      expect(actionsOf(invoke as Statement)).toEqual(['lambda:InvokeFunction']);
      expect(flat(invoke?.Resource)).toContain('BerthGrowFunction');
    });

    it('sends the manual grow as { instanceId, sizeGiB?, reason, requestId } with the execution id as request id', () => {
      const doc = Object.values(resources).find((r) => r.Properties.DocumentType === 'Automation');
      const steps = (
        doc?.Properties.Content as { mainSteps: { name: string; inputs: { Payload?: string } }[] }
      ).mainSteps;
      const payload = (name: string) => steps.find((s) => s.name === name)?.inputs.Payload ?? '';
      const fill = (text: string): Record<string, unknown> =>
        JSON.parse(
          text
            .replace('{{InstanceId}}', 'i-0123456789abcdef0')
            .replace('{{SizeGiB}}', '150')
            .replace('{{automation:EXECUTION_ID}}', 'e-1'),
        );
      const byPolicy = fill(payload('growByPolicy'));
      const bySize = fill(payload('growBySize'));
      expect(byPolicy).toEqual({
        instanceId: 'i-0123456789abcdef0',
        reason: 'manual grow (SSM Automation)',
        requestId: 'e-1',
      });
      expect(bySize).toEqual({ ...byPolicy, sizeGiB: 150 });
      // The grow handler's own parser accepts both, as the runbook sends them.
      expect(parseRequest(byPolicy, 'unused')).toEqual({
        instanceId: 'i-0123456789abcdef0',
        trigger: { kind: 'manual', requestId: 'e-1', reason: 'manual grow (SSM Automation)' },
      });
      expect(parseRequest(bySize, 'unused')).toEqual({
        instanceId: 'i-0123456789abcdef0',
        trigger: { kind: 'manual', requestId: 'e-1', reason: 'manual grow (SSM Automation)', sizeGiB: 150 },
      });
    });
  });

  describe('hosts', () => {
    it('publishes a CloudWatch agent configuration for disk_used_percent of the mount point, by InstanceId, without device', () => {
      const parameter = Object.values(resources).find((r) => r.Type === 'AWS::SSM::Parameter');
      expect(parameter?.Properties.Name).toBe(`/berth/${GROUP}/amazon-cloudwatch-agent`);
      // The example grows on a 10 s period (high-resolution metrics): samples and flushes every 10 s.
      expect(JSON.parse(parameter?.Properties.Value as string)).toEqual({
        agent: { metrics_collection_interval: 10 },
        metrics: {
          namespace: 'CWAgent',
          force_flush_interval: 10,
          append_dimensions: { InstanceId: '${aws:InstanceId}' },
          metrics_collected: {
            disk: {
              measurement: ['used_percent'],
              resources: ['/var/lib/etcd'],
              drop_device: true,
              metrics_collection_interval: 10,
            },
          },
        },
      });
    });

    it('lets the instances read that configuration, run SSM and publish CWAgent metrics', () => {
      template.hasResourceProperties('AWS::IAM::Role', {
        AssumeRolePolicyDocument: Match.objectLike({
          Statement: [Match.objectLike({ Principal: { Service: 'ec2.amazonaws.com' } })],
        }),
        ManagedPolicyArns: [
          {
            'Fn::Join': [
              '',
              ['arn:', { Ref: 'AWS::Partition' }, ':iam::aws:policy/AmazonSSMManagedInstanceCore'],
            ],
          },
        ],
      });
      const statements = statementsOf('NodeRole');
      expect(withAction(statements, 'ssm:GetParameter').map((s) => flat(s.Resource))).toEqual([
        expect.stringContaining('{"Ref":"BerthAgentConfig'),
      ]);
      expect(withAction(statements, 'cloudwatch:PutMetricData')[0]?.Condition).toEqual({
        StringEquals: { 'cloudwatch:namespace': 'CWAgent' },
      });
    });

    it('launches Ubuntu 24.04 arm64 with IMDSv2 required and an encrypted root volume; the user data installs the filesystem tools and etcd, not the CloudWatch agent', () => {
      template.hasResourceProperties('AWS::EC2::LaunchTemplate', {
        LaunchTemplateData: Match.objectLike({
          InstanceType: 't4g.small',
          MetadataOptions: { HttpTokens: 'required', HttpPutResponseHopLimit: 1 },
          BlockDeviceMappings: [
            { DeviceName: '/dev/sda1', Ebs: { Encrypted: true, VolumeSize: 16, VolumeType: 'gp3' } },
          ],
        }),
      });
      const lt = Object.values(resources).find((r) => r.Type === 'AWS::EC2::LaunchTemplate');
      const userData = flat(lt?.Properties);
      // The order and content are test/infra/example-user-data.test.ts's subject.
      expect(userData).toContain('apt-get install -y -q btrfs-progs etcd-server etcd-client');
      expect(userData).not.toContain('amazon-cloudwatch-agent');
      expect(userData).not.toContain('dnf');
      expect(flat(template.toJSON().Parameters)).toContain(UBUNTU_2404_ARM64);
    });

    it("installs and configures the CloudWatch agent through SSM Distributor associations on the group's instances", () => {
      template.hasResourceProperties('AWS::AutoScaling::AutoScalingGroup', {
        Tags: Match.arrayWith([{ Key: AGENT_TARGET_TAG, Value: GROUP, PropagateAtLaunch: true }]),
      });
      const targets = [{ Key: `tag:${AGENT_TARGET_TAG}`, Values: [GROUP] }];
      template.hasResourceProperties('AWS::SSM::Association', {
        Name: 'AWS-ConfigureAWSPackage',
        Targets: targets,
        Parameters: { action: ['Install'], name: ['AmazonCloudWatchAgent'] },
      });
      template.hasResourceProperties('AWS::SSM::Association', {
        Name: 'AmazonCloudWatch-ManageAgent',
        Targets: targets,
        ScheduleExpression: 'rate(30 minutes)',
        Parameters: {
          action: ['configure'],
          mode: ['ec2'],
          optionalConfigurationSource: ['ssm'],
          optionalConfigurationLocation: [{ Ref: Match.stringLikeRegexp('^BerthAgentConfig') }],
          optionalRestart: ['yes'],
        },
      });
    });
  });

  describe('context', () => {
    const exampleWith = (context: Record<string, unknown>) => {
      const stack = new ExampleStack(
        new App({ context: { 'aws:cdk:bundling-stacks': [], ...context } }),
        'Ctx',
      );
      return stack.node.metadata.filter((m) => m.type === 'aws:cdk:error').map((m) => String(m.data));
    };

    it('refuses btrfs on Amazon Linux 2023, which has no btrfs-progs, and takes xfs there', () => {
      const al2023 = '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64';
      expect(exampleWith({ 'berth:amiParameter': al2023 })).toEqual([
        `context berth:amiParameter: ${al2023} is Amazon Linux 2023, which has no btrfs-progs for berth:filesystem=btrfs; use an image that has it (the default ${UBUNTU_2404_ARM64}) or -c berth:filesystem=xfs`,
      ]);
      expect(exampleWith({ 'berth:amiParameter': al2023, 'berth:filesystem': 'xfs' })).toEqual([]);
    });

    it('refuses an AMI id where an SSM parameter name belongs, and unknown berth keys', () => {
      expect(
        exampleContextProblems({ 'berth:amiParameter': 'ami-0123456789abcdef0', 'berth:filesytem': 'xfs' }),
      ).toEqual([
        'context berth:filesytem: unknown berth context key; the example reads berth:filesystem and berth:amiParameter',
        `context berth:amiParameter: "ami-0123456789abcdef0" is not an SSM parameter name; give the parameter that names the AMI, e.g. ${UBUNTU_2404_ARM64}`,
      ]);
      expect(exampleContextProblems({ 'berth:filesystem': 'zfs' })).toEqual([
        'context berth:filesystem: "zfs" is not btrfs, ext4 or xfs',
      ]);
    });
  });

  it('draws a dashboard of free/held sets, spares, half-attached sets, grows, refusals, failures and abandoned launches', () => {
    const body = flat(
      Object.values(resources).find((r) => r.Type === 'AWS::CloudWatch::Dashboard')?.Properties.DashboardBody,
    );
    for (const metric of [
      'FreeSets',
      'Nodes', // held sets, as the reconciler publishes them (lambdas/shared/metrics.ts)
      'BadSets',
      'Spares',
      'HalfAttached',
      'Grows',
      'GrowRefusals',
      'GrowFailures',
      'StuckDiskAlarms',
      'LaunchesAbandoned',
    ]) {
      expect(body).toContain(`\\"Berth\\",\\"${metric}\\",\\"Group\\",\\"${GROUP}\\"`);
    }
    expect(body).toContain('AWS/Lambda');
    expect(body).toContain('ApproximateNumberOfMessagesVisible');
  });
});

describe('StatefulNodeGroup variants', () => {
  const env = { account: '111111111111', region: 'eu-west-1' };
  // The variants assert resources and permissions, not code: no bundling (the example bundled above).
  const unbundled = () => new App({ context: { 'aws:cdk:bundling-stacks': [] } });

  it('adds separate lifecycle hooks to an imported group', () => {
    const stack = new Stack(unbundled(), 'Imported', { env });
    const group = autoscaling.AutoScalingGroup.fromAutoScalingGroupName(stack, 'G', 'kafka');
    new StatefulNodeGroup(stack, 'Berth', { autoScalingGroup: group, filters: 'Service=kafka', growth: {} });
    const t = Template.fromStack(stack);
    t.hasResourceProperties('AWS::AutoScaling::LifecycleHook', {
      AutoScalingGroupName: 'kafka',
      LifecycleTransition: 'autoscaling:EC2_INSTANCE_LAUNCHING',
      DefaultResult: 'ABANDON',
      HeartbeatTimeout: 900,
    });
    t.hasResourceProperties('AWS::AutoScaling::LifecycleHook', {
      LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING',
      DefaultResult: 'CONTINUE',
    });
    t.resourceCountIs('AWS::EC2::Volume', 0);
    // Without customer managed keys no role gets a KMS statement.
    expect(JSON.stringify(t.findResources('AWS::IAM::Policy'))).not.toContain('kms:');
  });

  it("grants EBS's use of every named key through EC2 only: attachers all keys, creators growth's key", () => {
    const growthKey = 'arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab';
    const setsKey = 'arn:aws:kms:eu-west-1:111111111111:key/mrk-1234abcd12ab34cd56ef1234567890ab';
    const stack = new Stack(unbundled(), 'Keys', { env });
    const group = autoscaling.AutoScalingGroup.fromAutoScalingGroupName(stack, 'G', 'kafka');
    new StatefulNodeGroup(stack, 'Berth', {
      autoScalingGroup: group,
      filters: 'Service=kafka',
      growth: { kmsKeyId: growthKey },
      kmsKeys: [setsKey],
    });
    const t = Template.fromStack(stack);
    const via = { 'kms:ViaService': 'ec2.eu-west-1.amazonaws.com' };
    const kmsOf = (role: string) => {
      const policies = Object.values(t.findResources('AWS::IAM::Policy')) as {
        Properties: { Roles: { Ref: string }[]; PolicyDocument: { Statement: { Sid?: string }[] } };
      }[];
      const policy = policies.find((p) =>
        p.Properties.Roles.some((r) => r.Ref.startsWith(`Berth${role}Role`)),
      );
      return (policy?.Properties.PolicyDocument.Statement ?? []).filter((st) => st.Sid?.startsWith('Ebs'));
    };
    // CloudFormation's policy document writes one resource as a string.
    const one = (keys: string[]) => (keys.length === 1 ? keys[0] : keys);
    const grants = (keys: string[]) => ({
      Sid: 'EbsGrantsOnTheKeys',
      Effect: 'Allow',
      Action: 'kms:CreateGrant',
      Resource: one(keys),
      Condition: { Bool: { 'kms:GrantIsForAWSResource': 'true' }, StringEquals: via },
    });
    const decrypts = (keys: string[]) => ({
      Sid: 'EbsDecryptsWithTheKeys',
      Effect: 'Allow',
      Action: ['kms:Decrypt', 'kms:DescribeKey'],
      Resource: one(keys),
      Condition: { StringEquals: via },
    });
    // Launch, terminate (a spare's promotion) and reconcile attach sets under any key; only grow creates.
    for (const role of ['Launch', 'Terminate', 'Reconcile'])
      expect({ role, statements: kmsOf(role) }).toEqual({
        role,
        statements: [grants([setsKey, growthKey]), decrypts([setsKey, growthKey])],
      });
    expect(kmsOf('Grow')).toEqual([
      grants([growthKey]),
      decrypts([growthKey]),
      {
        Sid: 'EbsEncryptsWithTheKeys',
        Effect: 'Allow',
        Action: ['kms:GenerateDataKeyWithoutPlaintext', 'kms:ReEncryptFrom', 'kms:ReEncryptTo'],
        Resource: growthKey,
        Condition: { StringEquals: via },
      },
    ]);
    const report = new AwsSolutionsChecks(stack).validateScope(stack);
    expect(report.violations.map((v) => v.ruleName)).toEqual([]);
  });

  it('turns source maps on only when asked (sourceMaps: true sets --enable-source-maps)', () => {
    const stack = new Stack(unbundled(), 'Maps', { env });
    const group = autoscaling.AutoScalingGroup.fromAutoScalingGroupName(stack, 'G', 'kafka');
    new StatefulNodeGroup(stack, 'Berth', {
      autoScalingGroup: group,
      filters: 'Service=kafka',
      sourceMaps: true,
    });
    Template.fromStack(stack).allResourcesProperties('AWS::Lambda::Function', {
      Environment: { Variables: { BERTH_SETTINGS: Match.anyValue(), NODE_OPTIONS: '--enable-source-maps' } },
    });
  });

  it('builds no grow function, rule or runbook without growth, and the reconciler then deletes nothing', () => {
    const stack = new Stack(unbundled(), 'NoGrowth', { env });
    const group = autoscaling.AutoScalingGroup.fromAutoScalingGroupName(stack, 'G', 'zk');
    const berth = new StatefulNodeGroup(stack, 'Berth', {
      autoScalingGroup: group,
      filters: 'Service=zk',
      growth: null,
    });
    const t = Template.fromStack(stack);
    t.resourceCountIs('AWS::Lambda::Function', 3);
    t.resourceCountIs('AWS::Events::Rule', 3);
    t.resourcePropertiesCountIs('AWS::SSM::Document', { DocumentType: 'Automation' }, 0);
    expect(berth.rules.grow).toBeUndefined();
    expect(flat(t.toJSON())).not.toContain('ec2:DeleteVolume');
    expect(flat(t.toJSON())).not.toContain('ec2:CreateVolume');
  });

  it('lets launch create, tag and discard scratch volumes in a scratch group', () => {
    const stack = new Stack(unbundled(), 'Scratch', { env });
    const group = autoscaling.AutoScalingGroup.fromAutoScalingGroupName(stack, 'G', 'batch');
    new StatefulNodeGroup(stack, 'Berth', {
      autoScalingGroup: group,
      nodeSets: false,
      growth: { scratch: { enabled: true } },
    });
    const launchPolicy = Object.entries(
      Template.fromStack(stack).toJSON().Resources as Record<string, { Properties: Json }>,
    ).find(([id]) => id.startsWith('BerthLaunchRoleDefaultPolicy'))?.[1];
    expect(flat(launchPolicy)).toContain('ec2:CreateVolume');
    expect(flat(launchPolicy)).toContain('"ec2:CreateAction":"CreateVolume"');
    // It may discard a scratch volume it failed to prepare, and nothing that carries a NodeID.
    const deletes = (
      (launchPolicy?.Properties.PolicyDocument as { Statement: Statement[] }).Statement ?? []
    ).filter((st) => actionsOf(st).includes('ec2:DeleteVolume'));
    expect(deletes.map((st) => st.Condition)).toEqual([
      {
        StringEquals: { 'aws:ResourceTag/berth:group': 'batch' },
        Null: { 'aws:ResourceTag/NodeID': 'true' },
      },
    ]);
  });

  it('works with a group whose name is only known at deploy time', () => {
    const stack = new Stack(unbundled(), 'Token', { env });
    const group = autoscaling.AutoScalingGroup.fromAutoScalingGroupName(
      stack,
      'G',
      Fn.importValue('group-name'),
    );
    const berth = new StatefulNodeGroup(stack, 'Berth', { autoScalingGroup: group, filters: 'Service=etcd' });
    const t = Template.fromStack(stack);
    const names = Object.values(t.toJSON().Resources as Record<string, { Type: string; Properties: Json }>)
      .filter((r) => r.Type === 'AWS::SSM::Document')
      .map((r) => r.Properties.Name as string);
    expect(names).toHaveLength(3);
    for (const name of names)
      expect(name).toMatch(/^berth-[A-Za-z0-9_.-]+-(prepare-node|quiesce-node|grow-filesystem|grow-now)$/);
    t.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: Match.objectLike({
        detail: Match.objectLike({ AutoScalingGroupName: [{ 'Fn::ImportValue': 'group-name' }] }),
      }),
    });
    expect(berth.settings.groupName).toBe('unresolved-group-name');
  });
});
