/**
 * `berth status` through its entry function against the local cloud, reading the settings
 * parameter exactly as the synthesized construct writes it.
 */
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import { CreateVolumeCommand, DetachNetworkInterfaceCommand } from '@aws-sdk/client-ec2';
import { PutParameterCommand } from '@aws-sdk/client-ssm';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { main } from '../../lambdas/cli/main';
import { launch } from '../helpers/handlers';
import { StatefulNodeGroup } from '../../infra/stateful-node-group';
import { CloudFixture } from '../helpers/cloud-fixture';

const GROUP = 'etcd-nodes';

/** The settings parameter (name and value) of a synthesized group with these props. */
function synthesizedParameter(): { name: string; value: string } {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'Status', { env: { account: '111111111111', region: 'eu-west-1' } });
  new StatefulNodeGroup(stack, 'Berth', {
    autoScalingGroup: autoscaling.AutoScalingGroup.fromAutoScalingGroupName(stack, 'G', GROUP),
    filters: 'Service=etcd',
    growth: {},
  });
  const parameters = Template.fromStack(stack).findResources('AWS::SSM::Parameter');
  const settings = Object.values(parameters)
    .map((r) => r.Properties as { Name: string; Value: unknown })
    .find((p) => p.Name.endsWith('/settings'));
  if (!settings || typeof settings.Value !== 'string') throw new Error('no literal settings parameter');
  return { name: settings.Name, value: settings.Value };
}

describe('berth status', () => {
  let fx: CloudFixture;
  let restore: () => void;
  let parameter: { name: string; value: string };

  beforeAll(() => {
    parameter = synthesizedParameter();
  }, 120_000);
  afterEach(() => restore());

  async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
    let out = '';
    let err = '';
    const code = await main(argv, {
      stdout: (t) => (out += t),
      stderr: (t) => (err += t),
      clients: () => ({ ec2: fx.clients.ec2, autoScaling: fx.clients.autoScaling, ssm: fx.clients.ssm }),
      clock: fx.cloud.clock,
    });
    return { code, out, err };
  }

  /** Two nodes, a spare, a free set, a bad set, a half-attached set and a grow in flight. */
  async function busyGroup(): Promise<{ nodes: string[]; spare: string }> {
    fx = new CloudFixture({ sets: 3, settings: { groupName: GROUP, growth: {} } });
    restore = fx.plugHandlers();
    await fx.clients.ssm.send(
      new PutParameterCommand({ Name: parameter.name, Value: parameter.value, Type: 'String' }),
    );
    const ids = fx.launch(4);
    await Promise.all(fx.launchEvents().map((e) => launch(e)));
    const nodes = ids.filter((id) => fx.cloud.ec2.instance(id)?.tags.NodeID).sort();
    const spare = ids.find((id) => !nodes.includes(id)) ?? '';
    // The third node loses its ENI: half-attached.
    const half = fx.sets.find((s) => fx.cloud.ec2.networkInterface(s.networkInterfaceId)?.attachment);
    const attachmentId = fx.cloud.ec2.networkInterface(half?.networkInterfaceId ?? '')?.attachment
      ?.attachmentId;
    await fx.clients.ec2.send(new DetachNetworkInterfaceCommand({ AttachmentId: attachmentId }));
    await fx.cloud.clock.sleep(10_000);
    fx.seedSet({ nodeId: 'etcd-free' });
    fx.seedSet({ nodeId: 'etcd-broken', enis: 0 });
    await fx.clients.ec2.send(
      new CreateVolumeCommand({
        AvailabilityZone: 'eu-west-1a',
        Size: 50,
        TagSpecifications: [
          {
            ResourceType: 'volume',
            Tags: [
              { Key: 'berth:group', Value: GROUP },
              { Key: 'berth:instance', Value: nodes[0] ?? '' },
              { Key: 'berth:grow-state', Value: 'pending' },
            ],
          },
        ],
      }),
    );
    return { nodes, spare };
  }

  it('lists sets with their holders, spares, half-attached and bad sets with the reason, and grows in flight', async () => {
    // Prepare
    const { nodes, spare } = await busyGroup();
    // Act
    const { code, out, err } = await run('status', '--group', GROUP, '--region', 'eu-west-1');
    // Assess
    expect(err).toBe('');
    expect(code).toBe(0);
    expect(out).toMatch(
      new RegExp(
        `^group ${GROUP}: 4 instances, 4 sets \\(2 held, 1 free, 1 half-attached\\), 1 spares, 1 bad sets, 1 grows in flight`,
      ),
    );
    const setLines = out.split('\n').filter((l) => /^ {2}\S+ eu-west-1a /.test(l));
    expect(setLines).toHaveLength(4);
    expect(out).toContain(`  etcd-free eu-west-1a free: 1 volumes 10 GiB`);
    expect(out).toMatch(/half-attached i-[0-9a-f]+ \(InService\)/);
    expect(out).toMatch(/ {4}why: vol-[0-9a-f]+ attached to i-[0-9a-f]+; eni-[0-9a-f]+ available/);
    expect(out.match(/ held i-[0-9a-f]+ \(InService\)/g)).toHaveLength(2);
    expect(out).toContain(`SPARES\n  ${spare}\n`);
    expect(out).toContain('  etcd-broken has volumes but no network interface');
    expect(out).toContain("    fix: create an ENI in the volumes' AZ");
    expect(out).toMatch(
      new RegExp(`GROWS IN FLIGHT\\n  ${nodes[0]} add-device vol-[0-9a-f]+ 50 GiB pending, 0 s old`),
    );
  });

  it('prints the same report as JSON', async () => {
    await busyGroup();
    const { code, out } = await run('status', '--group', GROUP, '--json');
    expect(code).toBe(0);
    const report = JSON.parse(out) as { sets: { state: string }[]; spares: string[]; badSets: unknown[] };
    expect(report.sets.map((s) => s.state).sort()).toEqual(['free', 'half-attached', 'held', 'held']);
    expect(report.spares).toHaveLength(1);
    expect(report.badSets).toHaveLength(1);
  });

  it('says how to fix a missing settings parameter, and works from --filters instead', async () => {
    fx = new CloudFixture({ sets: 2, settings: { groupName: GROUP } });
    restore = fx.plugHandlers();
    const missing = await run('status', '--group', GROUP);
    expect(missing).toMatchObject({ code: 2, out: '' });
    expect(missing.err).toBe(
      `berth status: --group ${GROUP}: no settings parameter /berth/${GROUP}/settings; deploy the group's StatefulNodeGroup (it writes it), name it with --parameter, or pass --filters K=V,…\n`,
    );
    const filtered = await run('status', '--group', GROUP, '--filters', 'Service=etcd');
    expect(filtered.code).toBe(0);
    expect(filtered.out).toContain('2 sets (0 held, 2 free, 0 half-attached)');
  });

  it('refuses bad usage with one line and the usage', async () => {
    fx = new CloudFixture({ sets: 0 });
    restore = fx.plugHandlers();
    expect((await run('status')).err).toMatch(/^berth status: --group is required/);
    expect((await run('stats', '--group', 'x')).err).toMatch(/^berth: unknown command "stats"/);
    const unknown = await run('status', '--group', 'x', '--colour');
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/^berth: Unknown option '--colour'/);
  });

  it('runs as the package’s bin', () => {
    const result = spawnSync(process.execPath, [join(__dirname, '..', '..', 'bin', 'berth.js'), '--help'], {
      encoding: 'utf8',
    });
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^usage: berth status --group NAME/);
  });
});
