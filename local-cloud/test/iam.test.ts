import { DescribeAlarmsCommand, PutMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { CompleteLifecycleActionCommand } from '@aws-sdk/client-auto-scaling';
import { AttachVolumeCommand, DescribeVolumesCommand } from '@aws-sdk/client-ec2';
import { GetParameterCommand, SendCommandCommand } from '@aws-sdk/client-ssm';
import { covers, evaluate, type PolicyStatement } from '../src/iam';
import { LocalCloud } from '../src/index';
import { CloudFixture } from '../../test/helpers/cloud-fixture';
import { launch, reconcile } from '../../test/helpers/handlers';

const allow = (s: Partial<PolicyStatement>): PolicyStatement => ({ Effect: 'Allow', ...s });

describe('the IAM evaluator', () => {
  it('judges a wildcard request resource strictly: only a pattern covering every resource allows a list', () => {
    // `alarm:*` (DescribeAlarms by prefix) is covered by alarm:* and *, not by a name prefix
    expect(covers('arn:aws:cloudwatch:r:1:alarm:*', 'arn:aws:cloudwatch:r:1:alarm:*')).toBe(true);
    expect(covers('*', 'arn:aws:cloudwatch:r:1:alarm:*')).toBe(true);
    expect(covers('arn:aws:cloudwatch:r:1:alarm:berth-g-i-*', 'arn:aws:cloudwatch:r:1:alarm:*')).toBe(false);
    expect(covers('arn:aws:cloudwatch:r:1:alarm:?', 'arn:aws:cloudwatch:r:1:alarm:*')).toBe(false);
    // A named resource: ordinary wildcard matching
    expect(
      covers('arn:aws:cloudwatch:r:1:alarm:berth-g-i-*', 'arn:aws:cloudwatch:r:1:alarm:berth-g-i-0abc'),
    ).toBe(true);
  });

  it('needs every resource of a request allowed, each with its own tags', () => {
    const policy = [
      allow({ Action: 'ec2:AttachVolume', Resource: 'arn:aws:ec2:r:1:instance/*' }),
      allow({
        Action: 'ec2:AttachVolume',
        Resource: 'arn:aws:ec2:r:1:volume/*',
        Condition: {
          StringEquals: { 'aws:ResourceTag/Service': ['etcd'] },
          Null: { 'aws:ResourceTag/NodeID': 'false' },
        },
      }),
    ];
    const request = (tags: Record<string, string>) => ({
      action: 'ec2:AttachVolume',
      resources: [
        { arn: 'arn:aws:ec2:r:1:instance/i-1' },
        {
          arn: 'arn:aws:ec2:r:1:volume/vol-1',
          context: Object.fromEntries(Object.entries(tags).map(([k, v]) => [`aws:ResourceTag/${k}`, v])),
        },
      ],
    });
    expect(evaluate(policy, request({ Service: 'etcd', NodeID: 'n' })).allowed).toBe(true);
    expect(evaluate(policy, request({ Service: 'etcd' }))).toMatchObject({
      allowed: false,
      deniedResource: 'arn:aws:ec2:r:1:volume/vol-1',
    });
    expect(evaluate(policy, request({ Service: 'web', NodeID: 'n' })).allowed).toBe(false);
  });

  it('reads negated operators and ForAllValues as true on a missing key, ForAnyValue as false', () => {
    const tagging = allow({
      Action: 'ec2:CreateTags',
      Resource: '*',
      Condition: {
        'ForAllValues:StringEquals': { 'aws:TagKeys': ['a', 'b'] },
        StringNotEquals: { 'aws:RequestTag/a': ['pending', 'refused'] },
      },
    });
    const req = (context: Record<string, string | string[]>) => ({
      action: 'ec2:CreateTags',
      resources: [{ arn: 'arn:aws:ec2:r:1:volume/vol-1' }],
      context,
    });
    expect(evaluate([tagging], req({ 'aws:TagKeys': ['b'], 'aws:RequestTag/b': 'x' })).allowed).toBe(true);
    expect(evaluate([tagging], req({ 'aws:TagKeys': ['a'], 'aws:RequestTag/a': 'joined' })).allowed).toBe(
      true,
    );
    expect(evaluate([tagging], req({ 'aws:TagKeys': ['a'], 'aws:RequestTag/a': 'refused' })).allowed).toBe(
      false,
    );
    expect(evaluate([tagging], req({ 'aws:TagKeys': ['a', 'NodeID'] })).allowed).toBe(false);
    const any = allow({
      Action: '*',
      Resource: '*',
      Condition: { 'ForAnyValue:StringEquals': { 'k:v': ['x'] } },
    });
    expect(evaluate([any], req({})).allowed).toBe(false);
    expect(evaluate([any], req({ 'k:v': ['y', 'x'] })).allowed).toBe(true);
  });

  it('lets an explicit Deny win and refuses operators it does not know', () => {
    const all = allow({ Action: 'ec2:*', Resource: '*' });
    const deny: PolicyStatement = { Effect: 'Deny', Action: 'ec2:DeleteVolume', Resource: '*' };
    const req = { action: 'ec2:DeleteVolume', resources: [{ arn: 'arn:aws:ec2:r:1:volume/vol-1' }] };
    expect(evaluate([all, deny], req)).toMatchObject({ allowed: false, reason: 'explicit' });
    const odd = allow({
      Action: '*',
      Resource: '*',
      Condition: { NumericLessThan: { 'ec2:VolumeSize': '5' } },
    });
    expect(() => evaluate([odd], req)).toThrow(/NumericLessThan/);
  });
});

describe('IAM in the local cloud', () => {
  function checked(statements: PolicyStatement[]) {
    const cloud = new LocalCloud();
    cloud.authorizer.setPrincipal('fn', { roleName: 'Fn', sessionName: 'berth-fn', statements });
    return { cloud, as: cloud.clients({ maxAttempts: 1, principal: 'fn' }), admin: cloud.clients() };
  }

  it('refuses with each service’s code and message shape', async () => {
    // Prepare: a principal allowed nothing
    const { cloud, as } = checked([]);
    cloud.ec2.seedNetwork({ azs: ['eu-west-1a'] });
    const user = 'arn:aws:sts::111111111111:assumed-role/Fn/berth-fn';
    const denied = (p: Promise<unknown>) =>
      p.then(
        () => new Error('allowed'),
        (e: unknown) => e as Error,
      );
    // Act
    const ec2 = await denied(as.ec2.send(new DescribeVolumesCommand({})));
    const cw = await denied(as.cloudWatch.send(new DescribeAlarmsCommand({ AlarmNamePrefix: 'x' })));
    const ssm = await denied(
      as.ssm.send(new SendCommandCommand({ DocumentName: 'doc', InstanceIds: ['i-0123456789abcdef0'] })),
    );
    const asg = await denied(
      as.autoScaling.send(
        new CompleteLifecycleActionCommand({
          AutoScalingGroupName: 'g',
          LifecycleHookName: 'h',
          LifecycleActionResult: 'CONTINUE',
          InstanceId: 'i-0123456789abcdef0',
        }),
      ),
    );
    // Assess: EC2 UnauthorizedOperation with an encoded message; AccessDenied(Exception) elsewhere
    expect(ec2.name).toBe('UnauthorizedOperation');
    expect(ec2.message).toMatch(
      new RegExp(
        `^You are not authorized to perform this operation\\. User: ${user} is not authorized to perform: ec2:DescribeVolumes on resource: \\* because no identity-based policy allows the ec2:DescribeVolumes action\\. Encoded authorization failure message: [A-Za-z0-9+/=]+$`,
      ),
    );
    expect((ec2 as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode).toBe(403);
    expect(cw.name).toBe('AccessDenied');
    expect(cw.message).toBe(
      `User: ${user} is not authorized to perform: cloudwatch:DescribeAlarms on resource: arn:aws:cloudwatch:eu-west-1:111111111111:alarm:* because no identity-based policy allows the cloudwatch:DescribeAlarms action`,
    );
    expect(ssm.name).toBe('AccessDeniedException');
    expect(ssm.message).toContain(
      'ssm:SendCommand on resource: arn:aws:ssm:eu-west-1:111111111111:document/doc',
    );
    expect(asg.name).toBe('AccessDenied');
    expect(cloud.authorizer.denied).toBe(4);
  });

  it('judges AttachVolume on both its instance and its volume, with their current tags', async () => {
    // Prepare: instances of group g and volumes with and without the NodeID tag
    const { cloud, as, admin } = checked([
      allow({
        Action: 'ec2:AttachVolume',
        Resource: 'arn:aws:ec2:eu-west-1:111111111111:instance/*',
        Condition: { StringEquals: { 'aws:ResourceTag/aws:autoscaling:groupName': 'g' } },
      }),
      allow({
        Action: 'ec2:AttachVolume',
        Resource: 'arn:aws:ec2:eu-west-1:111111111111:volume/*',
        Condition: { Null: { 'aws:ResourceTag/NodeID': 'false' } },
      }),
    ]);
    const { subnets } = cloud.ec2.seedNetwork({ azs: ['eu-west-1a'] });
    const subnetId = subnets['eu-west-1a'] ?? '';
    const mine = cloud.ec2.runInstance({ subnetId, tags: { 'aws:autoscaling:groupName': 'g' } });
    const other = cloud.ec2.runInstance({ subnetId, tags: { 'aws:autoscaling:groupName': 'h' } });
    const tagged = cloud.ec2.seedVolume({ availabilityZone: 'eu-west-1a', size: 1, tags: { NodeID: 'n' } });
    const bare = cloud.ec2.seedVolume({ availabilityZone: 'eu-west-1a', size: 1, tags: {} });
    await cloud.clock.sleep(60_000);
    const attach = (VolumeId: string, InstanceId: string) =>
      as.ec2.send(new AttachVolumeCommand({ VolumeId, InstanceId, Device: '/dev/sdf' })).then(
        () => 'ok',
        (e: Error) => e.message.replace(/.*on resource: (\S+).*/, '$1'),
      );
    // Act / Assess
    expect(await attach(bare, mine)).toBe(`arn:aws:ec2:eu-west-1:111111111111:volume/${bare}`);
    expect(await attach(tagged, other)).toBe(`arn:aws:ec2:eu-west-1:111111111111:instance/${other}`);
    expect(await attach(tagged, mine)).toBe('ok');
    // The test's own clients are not judged
    await expect(admin.ec2.send(new DescribeVolumesCommand({}))).resolves.toBeDefined();
  });
});

describe('the synthesized node role', () => {
  it('lets the host publish CWAgent metrics and read its agent configuration, and nothing else of berth', async () => {
    // Prepare: the fixture loads the node role's synthesized policy
    const fx = new CloudFixture({ sets: 0, settings: { growth: { strategy: 'add-device' } } });
    const host = fx.cloud.clients({ maxAttempts: 1, principal: 'node' });
    const parameter = `/berth/${fx.groupName}/amazon-cloudwatch-agent`;
    // Act
    const metric = (Namespace: string) =>
      host.cloudWatch
        .send(
          new PutMetricDataCommand({
            Namespace,
            MetricData: [{ MetricName: 'disk_used_percent', Value: 1 }],
          }),
        )
        .then(
          () => 'ok',
          (e: Error) => e.name,
        );
    const read = (Name: string) =>
      host.ssm.send(new GetParameterCommand({ Name })).then(
        () => 'ok',
        (e: Error) => e.name,
      );
    // Assess: allowed calls reach the model (which may not model GetParameter: InvalidAction)
    expect(await metric('CWAgent')).toBe('ok');
    expect(await metric('Berth')).toBe('AccessDenied');
    expect(await read(parameter)).not.toBe('AccessDeniedException');
    expect(await read('/other/secret')).toBe('AccessDeniedException');
    // The SSM agent's core permissions come from the AWS managed policy, attached by ARN
    expect(fx.deployed.roles.node?.managedPolicyArns).toEqual([
      'arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore',
    ]);
  });
});

describe('documents as synthesized', () => {
  it('refuses a parameter value the synthesized allowedPattern refuses, as SendCommand does (InvalidParameters)', async () => {
    // Prepare: the fixture registers the template's documents
    const fx = new CloudFixture({ sets: 0 });
    const name = fx.settings.documents.growFilesystem;
    const synthesized = fx.deployed.documents.find((d) => d.name === name);
    const send = (Mode: string) =>
      fx.clients.ssm
        .send(
          new SendCommandCommand({
            DocumentName: name,
            InstanceIds: ['i-0123456789abcdef0'],
            Parameters: {
              Mode: [Mode],
              VolumeId: ['vol-0123456789abcdef0'],
              DeviceName: ['/dev/sdf'],
              MountPoint: ['/data'],
            },
          }),
        )
        .then(
          () => 'sent',
          (e: Error) => `${e.name}: ${e.message}`,
        );
    // Act
    const refused = await send('shrink');
    const accepted = await send('expand');
    // Assess: the pattern is the template's, and the document's content is the template's
    expect(refused).toBe(
      `InvalidParameters: Parameter "Mode" value "shrink" does not match the allowed pattern ${synthesized?.content.parameters?.Mode?.allowedPattern}.`,
    );
    expect(accepted).toMatch(/^InvalidInstanceId/); // past validation: no such instance
    const doc = fx.cloud.ssm.handle('GetDocument', { Name: name }) as { Content?: string };
    expect(JSON.parse(doc.Content ?? '{}')).toEqual(synthesized?.content);
  });
});

describe('turning the IAM check off', () => {
  it('shows what it catches: reconcile under a policy without the alarm:* listing is refused only with the check on', async () => {
    // Prepare: a growth group with a node, and the reconcile role as it was before defect 1's fix
    const fx = new CloudFixture({ sets: 1, settings: { growth: { strategy: 'add-device' } } });
    const restore = fx.plugHandlers();
    try {
      const [id = ''] = fx.launch(1);
      await launch(fx.takeEvent('EC2 Instance-launch Lifecycle Action', id));
      const role = fx.cloud.authorizer.principals.get('reconcile');
      if (!role) throw new Error('no reconcile role');
      fx.cloud.authorizer.setPrincipal('reconcile', {
        ...role,
        statements: role.statements.filter((s) => s.Sid !== 'ListAlarms'),
      });
      // Act: the flow wraps the refusal as its own error, with CloudWatch's as the cause
      const outcome = (e: Error) => (e.cause instanceof Error ? e.cause.name : e.name);
      const checked = await reconcile({}).then(() => 'ok', outcome);
      fx.cloud.authorizer.enabled = false;
      const unchecked = await reconcile({}).then(() => 'ok', outcome);
      // Assess
      expect([checked, unchecked]).toEqual(['AccessDenied', 'ok']);
    } finally {
      restore();
    }
  });
});
