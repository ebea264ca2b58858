/**
 * Issue 13: two runs of one host step on one instance never send prepare-node at once. The step is
 * sent only under the instance's lease (lambdas/shared/lease.ts, an SSM parameter created without
 * Overwrite); shown through the launch and reconcile handlers on the local cloud.
 */
import { launch, reconcile, terminate } from '../../helpers/handlers';
import { CloudFixture, LAUNCH_EVENT, pluggedFixtures, TERMINATE_EVENT } from '../../helpers/cloud-fixture';
import { leaseParameterName } from '../../../lambdas/shared/lease-names';
import { acquireLease, releaseLease, SEND_WINDOW_MS } from '../../../lambdas/aws/lease';
import { SSM_MAX_ATTEMPTS } from '../../../lambdas/aws/clients';

describe('the prepare-node lease', () => {
  let fx: CloudFixture;
  const fixture = pluggedFixtures();

  const commands = (instanceId: string, documentName: string) =>
    fx.cloud.ssm
      .commandHistory()
      .filter((i) => i.instanceId === instanceId && i.documentName === documentName);
  const prepares = (instanceId: string) => commands(instanceId, fx.settings.documents.prepareNode);

  /** A launch whose run dies right after `call` took effect (its answer lost), then revived. */
  async function launchKilledAfter(call: string): Promise<{ id: string; event: unknown }> {
    const [id = ''] = fx.launch(1);
    const event = fx.takeEvent(LAUNCH_EVENT, id);
    fx.cloud.faults.killAfterCall(call);
    await expect(launch(event)).rejects.toThrow('handler killed');
    fx.cloud.faults.revive();
    return { id, event };
  }
  const leases = () => fx.cloud.ssm.parameterNames().filter((n) => n.startsWith('/berth/lease/'));
  /** The node's prepared mark is gone (its set changed, say): the reconciler re-prepares it. */
  const dropMark = (id: string) =>
    fx.cloud.ec2.handle('DeleteTags', { Resources: [id], Tags: [{ Key: 'berth:prepared' }] });
  /** A later step on the node, once any lease left on it has expired: reconcile re-prepares it. */
  async function rePrepareLater(id: string): Promise<void> {
    dropMark(id);
    await fx.cloud.clock.sleep(SEND_WINDOW_MS);
    await reconcile({});
  }

  it('two deliveries of one launch event at once send prepare-node exactly once', async () => {
    // Prepare: both runs reach the prepare step in the same (virtual) millisecond.
    fx = fixture({ sets: 1 });
    const [id = ''] = fx.launch(1);
    const event = fx.takeEvent(LAUNCH_EVENT, id);
    // Act
    const outcomes = await Promise.all([launch(event), launch(structuredClone(event))]);
    // Assess: one command, both runs report the node; the lease is gone.
    expect(fx.cloud.accounting.count('ssm:SendCommand')).toBe(1);
    expect(prepares(id)).toHaveLength(1);
    expect(prepares(id)[0]?.status).toBe('Success');
    expect(outcomes.map((o) => o.result).sort()).toEqual(['node', 'node']);
    expect(fx.cloud.ec2.instance(id)?.tags['berth:prepared']).toBe(fx.sets[0]?.nodeId);
    expect(leases()).toEqual([]);
  });

  it('a run killed right after taking the lease: the retry takes the expired lease over and prepares the node', async () => {
    // Prepare
    fx = fixture({ sets: 1 });
    const { id, event } = await launchKilledAfter('PutParameter');
    expect(leases()).toEqual([leaseParameterName(fx.settings.documents.prepareNode, id)]);
    const retried = fx.cloud.clock.now();
    // Act: EventBridge (or Lambda's retry) delivers the event again.
    const outcome = await launch(structuredClone(event));
    // Assess: one prepare, sent once the dead run's window passed; no lifecycle action timed out.
    expect(outcome).toMatchObject({ result: 'node', resumed: true });
    expect(prepares(id)).toHaveLength(1);
    expect(prepares(id)[0]?.requestedAt).toBeLessThanOrEqual(retried + 2 * SEND_WINDOW_MS);
    expect(fx.cloud.autoscaling.lifecycleState(id)).toBe('InService');
    expect(fx.cloud.autoscaling.timedOutActions()).toEqual([]);
    expect(leases()).toEqual([]);
  });

  it('a run killed right after SendCommand: the retry adopts the command sent under the lease', async () => {
    // Prepare: the host step runs for 5 minutes.
    fx = fixture({ sets: 1 });
    fx.cloud.ssm.recorder.respond('prepare-node.sh', {
      stdout: '{"ok":true,"action":"prepare-node"}\n',
      durationMs: 300_000,
    });
    const { id, event } = await launchKilledAfter('SendCommand');
    // Act
    const outcome = await launch(structuredClone(event));
    // Assess: one prepare-node; the lease is the dead run's, left to expire (only a lease's holder
    // deletes it: a late delete by another run removed the next step's lease, soak seed 6).
    expect(outcome).toMatchObject({ result: 'node' });
    expect(prepares(id)).toHaveLength(1);
    expect(fx.cloud.autoscaling.timedOutActions()).toEqual([]);
    expect(leases()).toEqual([leaseParameterName(fx.settings.documents.prepareNode, id)]);
    // A later step on the node (reconcile re-prepares it once its mark is gone) takes the expired
    // lease over and sends its own prepare-node: the ended one is not its answer.
    await rePrepareLater(id);
    expect(prepares(id)).toHaveLength(2);
    expect(fx.cloud.ec2.instance(id)?.tags['berth:prepared']).toBe(fx.sets[0]?.nodeId);
    expect(leases()).toEqual([]);
  });

  it('a lease left by a run that died after its command ended does not answer a later step with that old result', async () => {
    // Prepare: the node is prepared; a re-prepare's run dies while releasing its lease (after the
    // command ended), so the lease stays with a finished command requested under it.
    fx = fixture({ sets: 1 });
    const [id = ''] = fx.launch(1);
    expect(await launch(fx.takeEvent(LAUNCH_EVENT, id))).toMatchObject({ result: 'node' });
    dropMark(id);
    fx.cloud.faults.killAfterCall('GetParameter');
    await expect(reconcile({})).rejects.toThrow('handler killed');
    fx.cloud.faults.revive();
    expect(leases()).toHaveLength(1);
    expect(prepares(id)).toHaveLength(2);
    // Act: the mark is gone again later (the set changed hands); the next run re-prepares
    await rePrepareLater(id);
    // Assess: a prepare-node of its own, not the dead run's ended one adopted
    expect(prepares(id)).toHaveLength(3);
    expect(fx.cloud.ec2.instance(id)?.tags['berth:prepared']).toBe(fx.sets[0]?.nodeId);
    expect(leases()).toEqual([]);
  });

  it('runs killed one after another after adopting the command: every retry still adopts it, none sends another', async () => {
    // Prepare: the host step runs for 5 minutes; the first run dies after SendCommand, the second
    // takes the expired lease over, adopts the command and dies too; the lease expires again.
    fx = fixture({ sets: 1 });
    fx.cloud.ssm.recorder.respond('prepare-node.sh', {
      stdout: '{"ok":true,"action":"prepare-node"}\n',
      durationMs: 300_000,
    });
    const { id, event } = await launchKilledAfter('SendCommand');
    await fx.cloud.clock.sleep(SEND_WINDOW_MS + 1000);
    fx.cloud.faults.killAfterCall('GetCommandInvocation');
    await expect(launch(structuredClone(event))).rejects.toThrow('handler killed');
    fx.cloud.faults.revive();
    await fx.cloud.clock.sleep(SEND_WINDOW_MS + 1000);
    // Act
    const outcome = await launch(structuredClone(event));
    // Assess: one prepare-node, adopted by both retries
    expect(outcome).toMatchObject({ result: 'node' });
    expect(prepares(id)).toHaveLength(1);
    expect(fx.cloud.autoscaling.timedOutActions()).toEqual([]);
    expect(leases()).toEqual([]);
  });

  it('a SendCommand that took effect but answered a server error is not sent again: the command is looked up and adopted', async () => {
    // Prepare: SSM runs the command, then its answer is lost to an InternalError
    fx = fixture({ sets: 1 });
    const [id = ''] = fx.launch(1);
    fx.cloud.faults.failNext('SendCommand', 'InternalError', { when: 'after' });
    // Act
    const outcome = await launch(fx.takeEvent(LAUNCH_EVENT, id));
    // Assess: one prepare-node (no retry of the call, SDK's or berth's), the node prepared
    expect(outcome).toMatchObject({ result: 'node' });
    expect(prepares(id)).toHaveLength(1);
    expect(leases()).toEqual([]);
  });

  it('a lease create that took effect but answered a server error is recognised as ours: no wait for it to expire', async () => {
    // Prepare
    fx = fixture({ sets: 1 });
    const [id = ''] = fx.launch(1);
    fx.cloud.faults.failNext('PutParameter', 'InternalServerError', { when: 'after' });
    const started = fx.cloud.clock.now();
    // Act
    const outcome = await launch(fx.takeEvent(LAUNCH_EVENT, id));
    // Assess: prepared at once, not a lease window later
    expect(outcome).toMatchObject({ result: 'node' });
    expect(prepares(id)).toHaveLength(1);
    expect((prepares(id)[0]?.requestedAt ?? Infinity) - started).toBeLessThan(SEND_WINDOW_MS);
    expect(leases()).toEqual([]);
  });

  it("a late release does not delete the next step's lease: a run releases only the lease its command ran under", async () => {
    // Prepare: step 1's lease, released by a run that watched its command; step 2 takes a new one
    fx = fixture({ sets: 1 });
    const deps = fx.deps();
    const name = leaseParameterName(fx.settings.documents.prepareNode, 'i-0123456789abcdef0');
    const first = await acquireLease(deps, name);
    if (!first.held) throw new Error('the first lease is free');
    await releaseLease(deps, name, first.lease.owner);
    const second = await acquireLease(deps, name);
    if (!second.held) throw new Error('the lease was released');
    // Act: another run that watched step 1's command releases late
    await releaseLease(deps, name, first.lease.owner);
    // Assess: step 2's lease stays until its own run releases it
    expect(leases()).toEqual([name]);
    await releaseLease(deps, name, second.lease.owner);
    expect(leases()).toEqual([]);
  });

  it('a release held back by throttling reads the owner again: it does not delete a lease taken meanwhile', async () => {
    // Prepare: step 1's lease expires while its holder still works; its release is throttled once
    fx = fixture({ sets: 1 });
    // The Lambdas' SSM client: no SDK retries of its own (lambdas/aws/clients.ts).
    const deps = fx.deps({ ssm: fx.cloud.clients({ maxAttempts: SSM_MAX_ATTEMPTS }).ssm });
    const name = leaseParameterName(fx.settings.documents.prepareNode, 'i-0123456789abcdef0');
    const first = await acquireLease(deps, name);
    if (!first.held) throw new Error('the first lease is free');
    await fx.cloud.clock.sleep(SEND_WINDOW_MS + 1000);
    fx.cloud.faults.failNext('DeleteParameter', 'ThrottlingException');
    // Act: while the release backs off, another run takes the expired lease over
    const [, second] = await Promise.all([
      releaseLease(deps, name, first.lease.owner),
      fx.cloud.clock.sleep(50).then(() => acquireLease(deps, name)),
    ]);
    // Assess: the taker's lease stays
    expect(second.held).toBe(true);
    expect(leases()).toEqual([name]);
  });

  it('a lease left by a run killed for good is deleted when its instance terminates', async () => {
    // Prepare: the run dies after taking the lease and is never retried.
    fx = fixture({ sets: 1 });
    const { id } = await launchKilledAfter('PutParameter');
    expect(leases()).toHaveLength(1);
    // Act: the instance is replaced; its terminate hook runs.
    fx.cloud.autoscaling.terminateInstance(id, { decrementCapacity: true });
    await terminate(fx.takeEvent(TERMINATE_EVENT, id));
    // Assess
    expect(leases()).toEqual([]);
  });

  it("reconcile's re-prepare of an unprepared holder follows the same rule: two runs at once, one prepare-node", async () => {
    // Prepare: a node whose prepared mark is gone (its last prepare never succeeded).
    fx = fixture({ sets: 1 });
    const [id = ''] = fx.launch(1);
    expect(await launch(fx.takeEvent(LAUNCH_EVENT, id))).toMatchObject({ result: 'node' });
    dropMark(id);
    const before = prepares(id).length;
    // Act
    await Promise.all([reconcile({}), reconcile({})]);
    // Assess
    expect(prepares(id).length - before).toBe(1);
    expect(fx.cloud.ec2.instance(id)?.tags['berth:prepared']).toBe(fx.sets[0]?.nodeId);
    expect(leases()).toEqual([]);
  });

  it('two deliveries of one terminate event at once send quiesce-node exactly once (the same lease)', async () => {
    // Prepare: a node, then its termination; both deliveries run in the same millisecond
    fx = fixture({ sets: 1 });
    const [id = ''] = fx.launch(1);
    await launch(fx.takeEvent(LAUNCH_EVENT, id));
    fx.cloud.autoscaling.terminateInstance(id, { decrementCapacity: true });
    const event = fx.takeEvent(TERMINATE_EVENT, id);
    // Act
    const outcomes = await Promise.all([terminate(event), terminate(structuredClone(event))]);
    // Assess: one quiesce-node, the set released, no lease left behind
    const quiesces = commands(id, fx.settings.documents.quiesceNode);
    expect(quiesces).toHaveLength(1);
    expect(outcomes.map((o) => o.result)).toContain('released');
    expect(fx.cloud.ec2.volume(fx.sets[0]?.volumeIds[0] ?? '')?.state).toBe('available');
    expect(leases()).toEqual([]);
  });
});
