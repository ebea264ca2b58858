import {
  CancelCommandCommand,
  CreateDocumentCommand,
  DescribeDocumentCommand,
  DescribeInstanceInformationCommand,
  GetCommandInvocationCommand,
  GetDocumentCommand,
  InvalidDocument,
  InvalidInstanceId,
  InvalidParameters,
  InvocationDoesNotExist,
  ListCommandInvocationsCommand,
  SendCommandCommand,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ShellExecutor } from '../src/executors';
import { LocalCloud } from '../src/index';

const BOOT_MS = 20_000;

/** A cloud with one subnet, a document `berth-prepare-node` and one instance (pending). */
function setup(): { cloud: LocalCloud; ssm: SSMClient; instanceId: string } {
  const cloud = new LocalCloud();
  const { ssm } = cloud.clients();
  cloud.ec2.timing.instanceBootMs = BOOT_MS;
  const { subnets } = cloud.ec2.seedNetwork({ azs: ['eu-west-1a'] });
  const instanceId = cloud.ec2.runInstance({ subnetId: subnets['eu-west-1a']! });
  cloud.ssm.registerDocument('berth-prepare-node', {
    scriptFile: 'agent-scripts/prepare-node.sh',
    parameters: {
      VolumeIds: { allowedPattern: '^vol-[0-9a-f]{8,17}(,vol-[0-9a-f]{8,17})*$' },
      MountPoint: { allowedPattern: '^/[A-Za-z0-9/_.-]*$', default: '/data' },
    },
    executionTimeoutSeconds: 600,
  });
  return { cloud, ssm, instanceId };
}

function send(ssm: SSMClient, instanceId: string, parameters: Record<string, string[]> = {}) {
  return ssm.send(
    new SendCommandCommand({
      DocumentName: 'berth-prepare-node',
      InstanceIds: [instanceId],
      Parameters: { VolumeIds: ['vol-0123456789abcdef0'], ...parameters },
    }),
  );
}

async function online(cloud: LocalCloud): Promise<void> {
  cloud.clock.advance(BOOT_MS + cloud.ssm.agentOnlineDelayMs);
}

describe('the local SSM', () => {
  it('answers InvalidInstanceId until the agent is online, agentOnlineDelayMs after the instance runs', async () => {
    // Prepare
    const { cloud, ssm, instanceId } = setup();
    const info = () =>
      ssm.send(
        new DescribeInstanceInformationCommand({ Filters: [{ Key: 'InstanceIds', Values: [instanceId] }] }),
      );
    // Act
    const whilePending = await send(ssm, instanceId).catch((e: unknown) => e);
    cloud.clock.advance(BOOT_MS);
    const runningInfo = await info();
    const whileRunning = await send(ssm, instanceId).catch((e: unknown) => e);
    cloud.clock.advance(cloud.ssm.agentOnlineDelayMs);
    const onlineInfo = await info();
    const sent = await send(ssm, instanceId);
    // Assess
    expect(whilePending).toBeInstanceOf(InvalidInstanceId);
    expect(whileRunning).toBeInstanceOf(InvalidInstanceId);
    expect((whileRunning as Error).message).toContain(instanceId);
    expect(runningInfo.InstanceInformationList).toEqual([]);
    expect(onlineInfo.InstanceInformationList).toEqual([
      expect.objectContaining({ InstanceId: instanceId, PingStatus: 'Online', PlatformType: 'Linux' }),
    ]);
    expect(sent.Command).toMatchObject({
      Status: 'Pending',
      DocumentName: 'berth-prepare-node',
      InstanceIds: [instanceId],
    });
  });

  it('makes the agent online delay configurable', async () => {
    const { cloud, ssm, instanceId } = setup();
    cloud.ssm.agentOnlineDelayMs = 5_000;
    cloud.clock.advance(BOOT_MS + 5_000);
    const sent = await send(ssm, instanceId);
    expect(sent.Command?.CommandId).toEqual(expect.any(String));
  });

  it('filters instance information by PingStatus, with InstanceInformationFilterList too', async () => {
    // Prepare
    const { cloud, ssm, instanceId } = setup();
    await online(cloud);
    const { subnets } = cloud.ec2.seedNetwork({ azs: ['eu-west-1b'] });
    const late = cloud.ec2.runInstance({ subnetId: subnets['eu-west-1b']! });
    // Act
    const byFilters = await ssm.send(
      new DescribeInstanceInformationCommand({ Filters: [{ Key: 'PingStatus', Values: ['Online'] }] }),
    );
    const byList = await ssm.send(
      new DescribeInstanceInformationCommand({
        InstanceInformationFilterList: [{ key: 'InstanceIds', valueSet: [instanceId, late] }],
      }),
    );
    // Assess
    expect(byFilters.InstanceInformationList?.map((i) => i.InstanceId)).toEqual([instanceId]);
    expect(byList.InstanceInformationList?.map((i) => i.InstanceId)).toEqual([instanceId]);
  });

  it('shows ConnectionLost while the instance shuts down, and drops it once terminated', async () => {
    // Prepare
    const { cloud, ssm, instanceId } = setup();
    await online(cloud);
    const list = async () =>
      (await ssm.send(new DescribeInstanceInformationCommand({}))).InstanceInformationList?.map((i) => [
        i.InstanceId,
        i.PingStatus,
      ]);
    // Act
    cloud.ec2.terminateInstance(instanceId);
    const shuttingDown = await list();
    cloud.clock.advance(cloud.ec2.timing.instanceTerminateMs);
    const terminated = await list();
    // Assess
    expect(shuttingDown).toEqual([[instanceId, 'ConnectionLost']]);
    expect(terminated).toEqual([]);
  });

  it('validates the document, its parameters against allowedPattern, and the instance ids', async () => {
    // Prepare
    const { cloud, ssm, instanceId } = setup();
    await online(cloud);
    // Act
    const unknownDocument = await ssm
      .send(new SendCommandCommand({ DocumentName: 'nope', InstanceIds: [instanceId] }))
      .catch((e: unknown) => e);
    const badPattern = await send(ssm, instanceId, { VolumeIds: ['vol-1; rm -rf /'] }).catch(
      (e: unknown) => e,
    );
    const unknownParameter = await send(ssm, instanceId, { Extra: ['x'] }).catch((e: unknown) => e);
    const missingParameter = await ssm
      .send(new SendCommandCommand({ DocumentName: 'berth-prepare-node', InstanceIds: [instanceId] }))
      .catch((e: unknown) => e);
    const unknownInstance = await send(ssm, 'i-00000000000000000').catch((e: unknown) => e);
    // Assess
    expect(unknownDocument).toBeInstanceOf(InvalidDocument);
    expect(badPattern).toBeInstanceOf(InvalidParameters);
    expect(unknownParameter).toBeInstanceOf(InvalidParameters);
    expect(missingParameter).toBeInstanceOf(InvalidParameters);
    expect(unknownInstance).toBeInstanceOf(InvalidInstanceId);
    expect(cloud.ssm.recorder.requests).toEqual([]);
  });

  it('runs a command through Pending, InProgress and Success with the recording executor', async () => {
    // Prepare
    const { cloud, ssm, instanceId } = setup();
    await online(cloud);
    cloud.ssm.deliveryDelayMs = 1_000;
    const get = (commandId: string) =>
      ssm.send(new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: instanceId }));
    // Act
    const sent = await send(ssm, instanceId);
    const commandId = sent.Command?.CommandId ?? '';
    const pending = await get(commandId);
    cloud.clock.advance(1_000);
    const inProgress = await get(commandId);
    cloud.clock.advance(cloud.ssm.recorder.durationMs);
    const done = await get(commandId);
    // Assess
    expect(pending).toMatchObject({ Status: 'Pending', ResponseCode: -1, StandardOutputContent: '' });
    expect(inProgress).toMatchObject({ Status: 'InProgress', ResponseCode: -1 });
    expect(done).toMatchObject({
      Status: 'Success',
      StatusDetails: 'Success',
      ResponseCode: 0,
      StandardOutputContent: '{"ok":true,"action":"prepare-node.sh"}\n',
      StandardErrorContent: '',
      ExecutionElapsedTime: 'PT2.000S',
    });
    expect(cloud.ssm.recorder.requests).toEqual([
      {
        instanceId,
        documentName: 'berth-prepare-node',
        scriptFile: 'agent-scripts/prepare-node.sh',
        parameters: { VolumeIds: 'vol-0123456789abcdef0', MountPoint: '/data' },
        timeoutSeconds: 600,
      },
    ]);
  });

  it('reports a failing script as Failed with its exit code and stderr', async () => {
    // Prepare
    const { cloud, ssm, instanceId } = setup();
    await online(cloud);
    cloud.ssm.recorder.respond('prepare-node.sh', () => ({ exitCode: 3, stdout: '', stderr: 'boom' }));
    // Act
    const sent = await send(ssm, instanceId);
    cloud.clock.advance(2_000);
    const out = await ssm.send(
      new GetCommandInvocationCommand({ CommandId: sent.Command?.CommandId, InstanceId: instanceId }),
    );
    // Assess
    expect(out).toMatchObject({ Status: 'Failed', ResponseCode: 3, StandardErrorContent: 'boom' });
  });

  it("reports TimedOut when a run outlasts the document's execution timeout", async () => {
    // Prepare
    const { cloud, ssm, instanceId } = setup();
    await online(cloud);
    cloud.ssm.recorder.respond('prepare-node.sh', { durationMs: 601_000 });
    // Act
    const sent = await send(ssm, instanceId);
    cloud.clock.advance(599_000);
    const before = await ssm.send(
      new GetCommandInvocationCommand({ CommandId: sent.Command?.CommandId, InstanceId: instanceId }),
    );
    cloud.clock.advance(1_000);
    const after = await ssm.send(
      new GetCommandInvocationCommand({ CommandId: sent.Command?.CommandId, InstanceId: instanceId }),
    );
    // Assess
    expect(before.Status).toBe('InProgress');
    expect(after).toMatchObject({ Status: 'TimedOut', StatusDetails: 'ExecutionTimedOut', ResponseCode: -1 });
  });

  it("runs one instance's agent-script commands one after another, as their host lock does", async () => {
    // Prepare: each run takes 10 s on the host
    const { cloud, ssm, instanceId } = setup();
    await online(cloud);
    cloud.ssm.recorder.respond('prepare-node.sh', { durationMs: 10_000 });
    const get = (commandId: string) =>
      ssm.send(new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: instanceId }));
    // Act: two commands sent at the same moment
    const [a, b] = await Promise.all([send(ssm, instanceId), send(ssm, instanceId)]);
    await cloud.ssm.settled();
    cloud.clock.advance(10_000);
    const [aAt10, bAt10] = await Promise.all([
      get(a.Command?.CommandId ?? ''),
      get(b.Command?.CommandId ?? ''),
    ]);
    cloud.clock.advance(10_000);
    const bAt20 = await get(b.Command?.CommandId ?? '');
    // Assess: both in flight at once, executed in turn; the wait counts in the second's run
    expect(aAt10.Status).toBe('Success');
    expect(bAt10.Status).toBe('InProgress');
    expect(bAt20).toMatchObject({ Status: 'Success', ExecutionElapsedTime: 'PT20.000S' });
    const [first, second] = cloud.ssm.commandHistory();
    expect(second?.ranAt).toBe(first?.ranUntil);
  });

  it('ends a command that would wait longer than hostLockWaitMs with host-busy, exit 5, without running it', async () => {
    // Prepare: the first run holds the host for 10 minutes; scripts wait 5 minutes at most
    const { cloud, ssm, instanceId } = setup();
    await online(cloud);
    cloud.ssm.recorder.respond('prepare-node.sh', { durationMs: 590_000 });
    // Act
    await send(ssm, instanceId);
    const second = await send(ssm, instanceId);
    await cloud.ssm.settled();
    cloud.clock.advance(cloud.ssm.hostLockWaitMs);
    const out = await ssm.send(
      new GetCommandInvocationCommand({ CommandId: second.Command?.CommandId, InstanceId: instanceId }),
    );
    // Assess
    expect(out).toMatchObject({ Status: 'Failed', ResponseCode: 5 });
    expect(JSON.parse(out.StandardOutputContent ?? '{}')).toMatchObject({ ok: false, code: 'host-busy' });
    expect(cloud.ssm.recorder.requests).toHaveLength(1);
  });

  it('answers InvocationDoesNotExist for an unknown invocation, and for a configurable window after SendCommand', async () => {
    // Prepare
    const { cloud, ssm, instanceId } = setup();
    await online(cloud);
    cloud.ssm.invocationVisibleDelayMs = 500;
    // Act
    const sent = await send(ssm, instanceId);
    const commandId = sent.Command?.CommandId ?? '';
    const early = await ssm
      .send(new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: instanceId }))
      .catch((e: unknown) => e);
    cloud.clock.advance(500);
    const visible = await ssm.send(
      new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: instanceId }),
    );
    const unknown = await ssm
      .send(new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: 'i-0fffffffffffffff0' }))
      .catch((e: unknown) => e);
    // Assess
    expect(early).toBeInstanceOf(InvocationDoesNotExist);
    expect(visible.Status).toBe('InProgress');
    expect(unknown).toBeInstanceOf(InvocationDoesNotExist);
  });

  it('cancels an invocation still in progress', async () => {
    // Prepare
    const { cloud, ssm, instanceId } = setup();
    await online(cloud);
    const sent = await send(ssm, instanceId);
    const commandId = sent.Command?.CommandId ?? '';
    // Act
    await ssm.send(new CancelCommandCommand({ CommandId: commandId }));
    cloud.clock.advance(5_000);
    const out = await ssm.send(
      new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: instanceId }),
    );
    // Assess
    expect(out).toMatchObject({ Status: 'Cancelled', ResponseCode: -1, StandardOutputContent: '' });
  });

  it('lists command invocations with plugin details', async () => {
    // Prepare
    const { cloud, ssm, instanceId } = setup();
    await online(cloud);
    const sent = await send(ssm, instanceId);
    cloud.clock.advance(2_000);
    // Act
    const out = await ssm.send(
      new ListCommandInvocationsCommand({
        CommandId: sent.Command?.CommandId,
        InstanceId: instanceId,
        Details: true,
      }),
    );
    // Assess
    expect(out.CommandInvocations).toEqual([
      expect.objectContaining({
        CommandId: sent.Command?.CommandId,
        InstanceId: instanceId,
        DocumentName: 'berth-prepare-node',
        Status: 'Success',
        CommandPlugins: [
          expect.objectContaining({
            Name: 'run',
            Status: 'Success',
            ResponseCode: 0,
            Output: '{"ok":true,"action":"prepare-node.sh"}\n',
          }),
        ],
      }),
    ]);
  });

  it('creates, describes and gets a document through the API', async () => {
    // Prepare
    const { ssm } = setup();
    const content = JSON.stringify({
      schemaVersion: '2.2',
      description: 'say hello',
      parameters: { Name: { type: 'String', allowedPattern: '^[a-z]+$', default: 'world' } },
      mainSteps: [
        { action: 'aws:runShellScript', name: 'run', inputs: { runCommand: ['echo "hello $SSM_Name"'] } },
      ],
    });
    // Act
    await ssm.send(
      new CreateDocumentCommand({ Name: 'berth-hello', Content: content, DocumentType: 'Command' }),
    );
    const described = await ssm.send(new DescribeDocumentCommand({ Name: 'berth-hello' }));
    const got = await ssm.send(new GetDocumentCommand({ Name: 'berth-hello' }));
    const missing = await ssm.send(new GetDocumentCommand({ Name: 'berth-nope' })).catch((e: unknown) => e);
    // Assess
    expect(described.Document).toMatchObject({
      Name: 'berth-hello',
      Status: 'Active',
      DocumentType: 'Command',
      Parameters: [{ Name: 'Name', Type: 'String', DefaultValue: 'world' }],
    });
    expect(got.Content).toBe(content);
    expect(missing).toBeInstanceOf(InvalidDocument);
  });
});

describe('the shell executor', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'berth-ssm-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  function script(name: string, body: string): string {
    const file = join(dir, name);
    writeFileSync(file, `#!/usr/bin/env bash\nset -euo pipefail\n${body}\n`);
    chmodSync(file, 0o755);
    return file;
  }

  it('runs the real script with bash, parameters as SSM_<Name> and per-instance env, while virtual time stands still', async () => {
    // Prepare
    const { cloud, ssm, instanceId } = setup();
    await online(cloud);
    cloud.ssm.executor = new ShellExecutor({
      clock: cloud.clock,
      envFor: (id) => ({ BERTH_HOST_ROOT: `${dir}/${id}` }),
    });
    cloud.ssm.registerDocument('berth-echo', {
      scriptFile: script(
        'echo.sh',
        'sleep 0.2\necho "volumes=$SSM_VolumeIds mount=$SSM_MountPoint root=$BERTH_HOST_ROOT" >&2\necho \'{"ok":true,"action":"echo"}\'',
      ),
      parameters: { VolumeIds: { allowedPattern: '^vol-[0-9a-f]+$' }, MountPoint: { default: '/data' } },
    });
    const before = cloud.clock.now();
    // Act
    const sent = await ssm.send(
      new SendCommandCommand({
        DocumentName: 'berth-echo',
        InstanceIds: [instanceId],
        Parameters: { VolumeIds: ['vol-0abc'] },
      }),
    );
    let timerFired = false;
    const timer = cloud.clock.sleep(1).then(() => (timerFired = true)); // due while the script runs
    await cloud.ssm.settled();
    const firedDuringRun = timerFired;
    const out = await ssm.send(
      new GetCommandInvocationCommand({ CommandId: sent.Command?.CommandId, InstanceId: instanceId }),
    );
    await timer;
    // Assess
    expect(firedDuringRun).toBe(false);
    expect(cloud.clock.now() - before).toBeLessThanOrEqual(1);
    expect(out).toMatchObject({
      Status: 'Success',
      ResponseCode: 0,
      StandardOutputContent: '{"ok":true,"action":"echo"}\n',
      StandardErrorContent: `volumes=vol-0abc mount=/data root=${dir}/${instanceId}\n`,
    });
  });

  it('runs the script through the per-instance command prefix of wrapFor', async () => {
    // Prepare
    const { cloud, ssm, instanceId } = setup();
    await online(cloud);
    cloud.ssm.executor = new ShellExecutor({
      clock: cloud.clock,
      wrapFor: (id) => ['env', `WRAPPED_FOR=${id}`],
    });
    cloud.ssm.registerDocument('berth-wrapped', {
      scriptFile: script('wrapped.sh', 'echo "{\\"ok\\":true,\\"for\\":\\"$WRAPPED_FOR\\"}"'),
    });
    // Act
    const sent = await ssm.send(
      new SendCommandCommand({ DocumentName: 'berth-wrapped', InstanceIds: [instanceId] }),
    );
    await cloud.ssm.settled();
    const out = await ssm.send(
      new GetCommandInvocationCommand({ CommandId: sent.Command?.CommandId, InstanceId: instanceId }),
    );
    // Assess
    expect(out).toMatchObject({
      Status: 'Success',
      StandardOutputContent: `{"ok":true,"for":"${instanceId}"}\n`,
    });
  });

  it('reports a failing script as Failed and truncates output at 24000 characters', async () => {
    // Prepare
    const { cloud, ssm, instanceId } = setup();
    await online(cloud);
    cloud.ssm.executor = new ShellExecutor({ clock: cloud.clock });
    cloud.ssm.registerDocument('berth-noisy', {
      scriptFile: script('noisy.sh', 'head -c 30000 /dev/zero | tr "\\0" x\necho bad >&2\nexit 4'),
    });
    // Act
    const sent = await ssm.send(
      new SendCommandCommand({ DocumentName: 'berth-noisy', InstanceIds: [instanceId] }),
    );
    await cloud.ssm.settled();
    const out = await ssm.send(
      new GetCommandInvocationCommand({ CommandId: sent.Command?.CommandId, InstanceId: instanceId }),
    );
    // Assess
    expect(out.Status).toBe('Failed');
    expect(out.ResponseCode).toBe(4);
    expect(out.StandardOutputContent).toHaveLength(24_000);
    expect(out.StandardErrorContent).toBe('bad\n');
  });

  it('kills a script that outlasts its timeout and reports TimedOut', async () => {
    // Prepare
    const { cloud, ssm, instanceId } = setup();
    await online(cloud);
    cloud.ssm.executor = new ShellExecutor({ clock: cloud.clock, maxRealMs: 200 });
    cloud.ssm.registerDocument('berth-slow', { scriptFile: script('slow.sh', 'sleep 10') });
    // Act
    const started = Date.now();
    const sent = await ssm.send(
      new SendCommandCommand({ DocumentName: 'berth-slow', InstanceIds: [instanceId] }),
    );
    await cloud.ssm.settled();
    const out = await ssm.send(
      new GetCommandInvocationCommand({ CommandId: sent.Command?.CommandId, InstanceId: instanceId }),
    );
    // Assess
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(out).toMatchObject({ Status: 'TimedOut', ResponseCode: -1 });
  });
});
