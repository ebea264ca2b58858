import {
  groupSets,
  hash32,
  rotate,
  validateSet,
  type SetInterface,
  type SetVolume,
} from '../../../lambdas/domain/node-sets';

const volume = (id: string, ordinal: number | undefined, az = 'eu-west-1a'): SetVolume => ({
  volumeId: id,
  nodeId: 'n1',
  ordinal,
  availabilityZone: az,
  state: 'available',
  sizeGiB: 10,
  attachedTo: undefined,
  attachState: undefined,
  device: undefined,
  attachTime: undefined,
});
const eni = (id: string, az = 'eu-west-1a'): SetInterface => ({
  networkInterfaceId: id,
  nodeId: 'n1',
  availabilityZone: az,
  vpcId: 'vpc-1',
  subnetId: 'subnet-1',
  status: 'available',
  privateIp: '10.0.0.9',
  macAddress: '0a:00:00:00:00:09',
  attachedTo: undefined,
  attachState: undefined,
  deviceIndex: undefined,
});

describe('validateSet', () => {
  it('accepts one ENI and volumes with distinct ordinals, primary first', () => {
    const check = validateSet('n1', [volume('vol-b', 1), volume('vol-a', 0)], [eni('eni-1')]);
    expect(check.ok && check.set.volumes.map((v) => v.volumeId)).toEqual(['vol-a', 'vol-b']);
  });

  it('treats a lone volume without the ordinal tag as the primary', () => {
    const check = validateSet('n1', [volume('vol-a', undefined)], [eni('eni-1')]);
    expect(check.ok && check.set.volumes[0]?.ordinal).toBe(0);
  });

  it.each([
    ['two ENIs', [volume('vol-a', 0)], [eni('eni-1'), eni('eni-2')], 'more than one network interface'],
    ['two primaries', [volume('vol-a', 0), volume('vol-b', 0)], [eni('eni-1')], 'more than one primary'],
    ['no ENI', [volume('vol-a', 0)], [], 'volumes but no network interface'],
    ['no volume', [], [eni('eni-1')], 'no volume'],
    ['split AZs', [volume('vol-a', 0), volume('vol-b', 1, 'eu-west-1b')], [eni('eni-1')], 'split across'],
    [
      'an untagged volume among several',
      [volume('vol-a', 0), volume('vol-b', undefined)],
      [eni('eni-1')],
      'without a valid',
    ],
    ['no primary', [volume('vol-a', 1)], [eni('eni-1')], 'no primary'],
  ])('rejects %s with the ids and a fix', (_name, volumes, interfaces, text) => {
    const check = validateSet('n1', volumes, interfaces);
    expect(check.ok).toBe(false);
    if (check.ok) return;
    expect(check.problem.problem).toContain(text);
    expect(check.problem.fix.length).toBeGreaterThan(10);
    expect(check.problem.volumeIds).toEqual(volumes.map((v) => v.volumeId));
  });
});

describe('groupSets', () => {
  it('groups by NodeID in sorted order and separates the bad ones', () => {
    const a = { ...volume('vol-a', 0), nodeId: 'b' };
    const b = { ...volume('vol-b', 0), nodeId: 'a' };
    const { sets, problems } = groupSets([a, b], [{ ...eni('eni-1'), nodeId: 'a' }]);
    expect(sets.map((s) => s.nodeId)).toEqual(['a']);
    expect(problems.map((p) => p.nodeId)).toEqual(['b']);
  });
});

describe('search order', () => {
  it('starts at an offset from a hash of the instance id and wraps around', () => {
    const items = ['a', 'b', 'c', 'd'];
    expect(rotate(items, 2)).toEqual(['c', 'd', 'a', 'b']);
    expect(rotate(items, hash32('i-0123456789abcdef0')).sort()).toEqual(items);
  });

  it('spreads 100 instance ids over 100 sets (most start at different sets)', () => {
    const starts = new Set(
      Array.from({ length: 100 }, (_, i) => hash32(`i-${i.toString(16).padStart(17, '0')}#0`) % 100),
    );
    expect(starts.size).toBeGreaterThan(55);
  });
});
