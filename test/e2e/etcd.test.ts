/**
 * A real 3-member etcd cluster through berth, as in `npm run demo -- etcd`: every instance a network
 * namespace, every ENI a veth that follows its attachment, Debian's etcd unit started from berth's
 * env file by the unit-runner; the real handlers and agent scripts. The claims build on each other.
 * Needs root, loop devices, network namespaces and etcd: fails loudly (not skipped) without them.
 */
import { spawnSync } from 'node:child_process';
import { claimFailures, runClaim } from '../demo/claims';
import {
  claimClusterUp,
  claimEmptyStartRefused,
  claimGrowsWhileWriting,
  claimMemberKilled,
  claimMemberReplaced,
  EtcdDemo,
} from '../demo/etcd';

jest.setTimeout(180_000);

describe('etcd through berth, in network namespaces', () => {
  let etcd: EtcdDemo | undefined;
  const lines: string[] = [];

  beforeAll(() => {
    for (const tool of ['etcd', 'etcdctl']) {
      if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0)
        throw new Error(`${tool} is not installed (apt-get install -y etcd-server etcd-client)`);
    }
    etcd = new EtcdDemo({ seed: 11, out: (line) => lines.push(line) });
    etcd.setUp();
  });

  afterAll(() => {
    const id = etcd?.net.id;
    etcd?.cleanup();
    // Nothing of the world is left: no namespace, no etcd.
    if (id) expect(spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout).not.toContain(id);
  });

  function expectHeld(failures: string[]): void {
    if (failures.length > 0) console.error(lines.join('\n'));
    lines.length = 0;
    expect(failures).toEqual([]);
  }

  it('forms a 3-member cluster named by NodeID on the set IPs and takes N keys', async () => {
    expectHeld(claimFailures(await runClaim(1, 'cluster up', (c) => claimClusterUp(etcd!, c))));
    expect(etcd!.summary.keysWritten).toBe(etcd!.keys);
  });

  it('brings a member whose instance was terminated through its hook back as the same member with every key', async () => {
    expectHeld(claimFailures(await runClaim(2, 'replaced', (c) => claimMemberReplaced(etcd!, c))));
    expect(etcd!.summary).toMatchObject({ replaced: 1, memberIdsKept: true, ipsKept: true });
  });

  it('brings a member killed without its hook back from its write-ahead log', async () => {
    expectHeld(claimFailures(await runClaim(3, 'killed', (c) => claimMemberKilled(etcd!, c))));
    expect(etcd!.summary).toMatchObject({ killed: 1, memberIdsKept: true });
  });

  it("grows a member's btrfs by a volume while etcd writes, losing no acknowledged write", async () => {
    expectHeld(claimFailures(await runClaim(4, 'grows', (c) => claimGrowsWhileWriting(etcd!, c))));
  });

  it('refuses to start etcd on the empty mount point after a reboot with the volume missing', async () => {
    expectHeld(claimFailures(await runClaim(5, 'empty start', (c) => claimEmptyStartRefused(etcd!, c))));
    expect(etcd!.summary).toMatchObject({
      members: 3,
      healthy: 3,
      emptyStartRefused: true,
      keysRead: etcd!.keys,
    });
  });

  it("made every handler call as its function's role, and the synthesized policies refused none", () => {
    const authorizer = etcd!.demo.world.cloud.authorizer;
    expect(authorizer.calls).toBeGreaterThan(100);
    expect(authorizer.denied).toBe(0);
    expect(etcd!.net.hookErrors).toEqual([]);
  });
});
