import { describeInstance, waitForRunning } from '../../../lambdas/aws/attachments';
import { claimFreeSet, launchRank, newAttachLog } from '../../../lambdas/shared/claim';
import { CloudFixture } from '../../helpers/cloud-fixture';

describe('claimFreeSet', () => {
  async function runningInstances(fx: CloudFixture, n: number) {
    const ids = fx.launch(n);
    fx.launchEvents();
    const deps = fx.deps();
    return Promise.all(
      ids.map(async (id) => {
        const view = await describeInstance(deps, id);
        return view ? waitForRunning(deps, view) : undefined;
      }),
    );
  }

  it('claims a free set when two instances race for the same one: one wins, the other moves on', async () => {
    // Prepare: both start at the same set (same rank)
    const fx = new CloudFixture({ sets: 2 });
    const [a, b] = await runningInstances(fx, 2);
    if (!a || !b) throw new Error('instances did not start');
    const deps = fx.deps();
    // Act
    const [ra, rb] = await Promise.all([
      claimFreeSet(deps, a, newAttachLog(), { rank: 0 }),
      claimFreeSet(deps, b, newAttachLog(), { rank: 0 }),
    ]);
    // Assess
    expect(new Set([ra.set?.nodeId, rb.set?.nodeId]).size).toBe(2);
    expect(ra.attempts + rb.attempts).toBe(3);
    expect(fx.cloud.accounting.count('ec2:AttachVolume')).toBe(3);
  });

  it('finds nothing (and attempts nothing) when every set is taken', async () => {
    // Prepare
    const fx = new CloudFixture({ sets: 1 });
    const [a, b] = await runningInstances(fx, 2);
    if (!a || !b) throw new Error('instances did not start');
    const deps = fx.deps();
    await claimFreeSet(deps, a, newAttachLog());
    // Act
    const result = await claimFreeSet(deps, b, newAttachLog());
    // Assess
    expect(result).toEqual({ set: undefined, attempts: 0 });
  });

  it('uses the same number of EC2 calls for 10 and for 1000 sets', async () => {
    // Prepare
    const calls: number[] = [];
    for (const sets of [10, 1000]) {
      const fx = new CloudFixture({ sets });
      const [a] = await runningInstances(fx, 1);
      if (!a) throw new Error('instance did not start');
      fx.cloud.accounting.reset();
      // Act
      await claimFreeSet(fx.deps(), a, newAttachLog());
      calls.push(fx.cloud.accounting.count('ec2'));
    }
    // Assess
    expect(calls[1]).toBe(calls[0]);
  });
});

describe('launchRank', () => {
  it('ranks an instance among the launching instances of its AZ, by id', () => {
    const group = [
      { instanceId: 'i-3', availabilityZone: 'a', lifecycleState: 'Pending:Wait' },
      { instanceId: 'i-1', availabilityZone: 'a', lifecycleState: 'Pending:Wait' },
      { instanceId: 'i-2', availabilityZone: 'b', lifecycleState: 'Pending:Wait' },
      { instanceId: 'i-0', availabilityZone: 'a', lifecycleState: 'InService' },
    ];
    expect(launchRank(group, { instanceId: 'i-3', availabilityZone: 'a' })).toBe(1);
    expect(launchRank(group, { instanceId: 'i-0', availabilityZone: 'a' })).toBeUndefined();
  });
});
