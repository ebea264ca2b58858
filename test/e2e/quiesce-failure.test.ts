/**
 * A terminate whose quiesce fails, end to end: a process holds the node's mount busy, so the real
 * quiesce-node script cannot unmount it; berth must then not detach the mounted volume, complete
 * the lifecycle action and let the termination release it. The set stays whole and usable.
 * Needs root and loop devices (fails loudly where they are unavailable).
 */
import { Demo } from '../demo/scenarios';

jest.setTimeout(120_000);

describe('a terminate whose quiesce fails', () => {
  let demo: Demo | undefined;
  const lines: string[] = [];

  afterAll(() => {
    demo?.cleanup();
  });

  it('never detaches a volume while it is mounted, and the set comes back with its data', async () => {
    // Prepare: one node holding node-0, with files, and a process whose working directory is in the mount.
    demo = new Demo({
      seed: 13,
      sets: 1,
      azs: ['eu-west-1a'],
      settings: { timeouts: { quiesceSeconds: 1 } },
      out: (line) => lines.push(line),
    });
    demo.setUp();
    const [first] = demo.world.launch(1);
    await demo.settle();
    const node = first ?? '';
    expect(demo.world.holder('node-0')).toBe(node);
    demo.writeFiles(node, 'node-0', 8, 16 * 1024);
    const written = demo.written.get('node-0');
    const busy = demo.host.loops.hold(demo.dataDir(node));
    const volumeId = demo.world.set('node-0').volumeIds[0] ?? '';

    // Act: the instance is terminated; the terminate handler runs (the replacement's launch waits).
    demo.world.terminate(node);
    const events = demo.cloud.events.drain();
    const terminate = events.find((e) => e['detail-type'] === 'EC2 Instance-terminate Lifecycle Action');
    expect(terminate).toBeDefined();
    const delivery = await demo.world.deliver(terminate!);
    demo.flush();
    expect(delivery?.ok).toBe(true);

    // Assess: quiesce failed, the volume is still attached and mounted, no DetachVolume was sent.
    const quiesce = demo.executor.runs.filter((r) => r.instanceId === node && r.script === 'quiesce-node');
    expect(quiesce.length).toBeGreaterThan(0);
    expect(quiesce.every((r) => r.result?.ok === false)).toBe(true);
    expect(demo.host.isMounted(node, '/data')).toBe(true);
    expect(demo.cloud.ec2.volume(volumeId)?.attachments.map((a) => [a.instanceId, a.state])).toEqual([
      [node, 'attached'],
    ]);
    const detaches = demo.cloud.accounting.log.filter(
      (c) => c.operation === 'DetachVolume' && (c.input as { VolumeId?: string }).VolumeId === volumeId,
    );
    expect(detaches).toEqual([]);
    // …and the terminate lifecycle action was completed (the replacement's launch is still waiting).
    expect(demo.cloud.autoscaling.pendingActions().filter((a) => a.instanceId === node)).toEqual([]);

    // The machine ends (its processes with it), which releases the volume; the replacement gets the set.
    busy.kill('SIGKILL');
    for (const event of events.filter((e) => e !== terminate)) await demo.world.deliver(event);
    await demo.settle();
    expect(demo.cloud.ec2.instance(node)?.state).toBe('terminated');
    const next = demo.world.holder('node-0');
    expect(next).toBeDefined();
    expect(next).not.toBe(node);
    expect(demo.readFiles(next ?? '')).toEqual(written);
    expect(demo.cloud.autoscaling.pendingActions()).toEqual([]);
    expect(demo.cloud.autoscaling.timedOutActions()).toEqual([]);
    expect(demo.invariants()).toEqual([]);
  });
});
