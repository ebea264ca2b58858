/**
 * Issue 10: which volumes are in a node's filesystem is ONE rule (lambdas/domain/growth-tags.ts
 * `membership`), read by grow's limits (`filesystemOf`), the disk alarm's threshold
 * (`countedInFilesystem`) and the list prepare-node is given (`filesystemMembers`). The table fixes
 * the rule; the second test runs the consumers on one set holding a volume in every grow state, so
 * a consumer that starts deciding on its own fails here.
 */
import {
  countedInFilesystem,
  membership,
  namedToHost,
  countsTowardFilesystem,
  TAG_GROW_STATE,
  TAG_INSTANCE,
  type Membership,
} from '../../../lambdas/domain/growth-tags';
import type { VolumeRecord } from '../../../lambdas/domain/volume';
import type { NodeSet, SetVolume } from '../../../lambdas/domain/node-sets';
import { filesystemOf } from '../../../lambdas/grow/plan';
import { filesystemMembers } from '../../../lambdas/shared/claim';
import { resolveSettings } from '../../../lambdas/shared/config';

describe('the filesystem membership rule', () => {
  it.each<[string | undefined, boolean, Membership, boolean, boolean]>([
    // state, joining on this instance, membership, counted (limits, threshold), named to the host
    [undefined, false, 'member', true, true],
    ['joined', false, 'member', true, true],
    ['joined', true, 'member', true, true],
    ['pending', false, 'not-member', false, false],
    ['pending', true, 'not-member', false, false],
    ['refused', false, 'not-member', false, false],
    ['joining', true, 'not-member', false, false],
    ['joining', false, 'maybe', true, false],
    ['unknown', false, 'maybe', true, false],
    ['unknown', true, 'maybe', true, false],
  ])('%s (joining here: %s) is %s', (state, here, expected, counted, named) => {
    const m = membership(state, here);
    expect({ m, counted: countsTowardFilesystem(m), named: namedToHost(m) }).toEqual({
      m: expected,
      counted,
      named,
    });
  });

  it('grow, the alarm threshold and prepare-node read the same rule on one set', () => {
    // Prepare: one set on instance i-1 with a volume in every grow state (the joining one is i-1's own grow)
    const settings = resolveSettings({ groupName: 'g', growth: {} });
    const instanceId = 'i-0000000000000000a';
    const states: (string | undefined)[] = [undefined, 'joined', 'pending', 'refused', 'joining', 'unknown'];
    const records: VolumeRecord[] = states.map((state, i) => ({
      volumeId: `vol-${String(i).padStart(17, '0')}`,
      sizeGiB: 100,
      state: 'in-use',
      availabilityZone: 'eu-west-1a',
      createdAt: 0,
      tags: {
        [settings.nodeIdTagKey]: 'etcd-0',
        [settings.ordinalTagKey]: String(i),
        ...(state ? { [TAG_GROW_STATE]: state, [TAG_INSTANCE]: instanceId } : {}),
      },
      attachments: [{ instanceId, state: 'attached', device: `/dev/sd${'fghijk'[i]}` }],
    })) as unknown as VolumeRecord[];
    const setVolumes = records.map((r, i): SetVolume => ({
      volumeId: r.volumeId,
      nodeId: 'etcd-0',
      ordinal: i,
      availabilityZone: 'eu-west-1a',
      state: 'in-use',
      sizeGiB: 100,
      attachedTo: instanceId,
      attachState: 'attached',
      device: `/dev/sd${'fghijk'[i]}`,
      attachTime: 0,
      growState: states[i],
    }));
    const set: NodeSet = { nodeId: 'etcd-0', availabilityZone: 'eu-west-1a', volumes: setVolumes };
    // Act
    const grow = filesystemOf(settings, instanceId, records).members.map((v) => v.volumeId);
    const threshold = records.filter((r) => countedInFilesystem(r.tags, instanceId)).map((r) => r.volumeId);
    const named = filesystemMembers({ set, devices: setVolumes.map((v) => v.device ?? '') }).map(
      (v) => v.volumeId,
    );
    // Assess: counted = set volume, joined, unknown; named = set volume, joined
    const ids = (...i: number[]) => i.map((n) => records[n]?.volumeId);
    expect(grow).toEqual(ids(0, 1, 5));
    expect(threshold).toEqual(grow);
    expect(named).toEqual(ids(0, 1));
  });
});
