import { ConfigError, resolveSettings, settingsFromEnv, SETTINGS_ENV } from '../../../lambdas/shared/config';

describe('group settings', () => {
  it('fills smilodon-compatible defaults', () => {
    const s = resolveSettings({ groupName: 'etcd' });
    expect(s).toMatchObject({
      nodeIdTagKey: 'NodeID',
      eniDeviceIndex: 1,
      mountPoint: '/data',
      filesystem: 'btrfs',
      envFile: '/etc/berth/node.env',
      whenNoSetFree: 'spare',
      nodeSets: true,
    });
    expect(s.growth).toBeUndefined();
  });

  it('parses filters in smilodon syntax', () => {
    const s = resolveSettings({ groupName: 'etcd', filters: 'Env=development,Service=etcd,tag-key=Project' });
    expect(s.parsedFilters).toEqual([
      { name: 'tag:Env', values: ['development'] },
      { name: 'tag:Service', values: ['etcd'] },
      { name: 'tag-key', values: ['Project'] },
    ]);
  });

  it.each([
    [{ mountPoint: 'data' }, 'mountPoint: must be an absolute path'],
    [{ mountPoint: '/data/../etc' }, 'mountPoint: must be an absolute path'],
    [{ mountPoint: '/' }, 'mountPoint: "/" is a system directory'],
    [{ filters: 'Env' }, 'filters: filter "Env" is not K=V'],
    [
      { eniDeviceIndex: 0 },
      'eniDeviceIndex: must be an integer from 1 to 31 (got 0); index 0 is the primary',
    ],
    [{ filesystem: 'zfs' }, 'filesystem: must be one of btrfs, ext4, xfs (got "zfs")'],
    [{ serviceUnit: 'etcd; rm -rf /' }, 'serviceUnit: must be a systemd unit name'],
    [{ whenNoSetFree: 'wait' }, 'whenNoSetFree: must be one of spare, abandon'],
    [{ nodeIdTagKey: 'aws:node' }, 'nodeIdTagKey: must be a tag key'],
    [{ timeouts: { heartbeatSeconds: 10 } }, 'timeouts.heartbeatSeconds: must be an integer from 30 to 7200'],
    [
      { filesystem: 'xfs', growth: {} },
      'growth.strategy: add-device needs btrfs; with xfs use strategy "expand"',
    ],
    [{ growth: { alarm: { periodSeconds: 45 } } }, 'growth.alarm.periodSeconds: must be 10, 30'],
    [
      { growth: { minVolumeGiB: 100, maxVolumeGiB: 50 } },
      'growth.maxVolumeGiB: 50 is below growth.minVolumeGiB (100); raise growth.maxVolumeGiB or lower growth.minVolumeGiB',
    ],
    [
      { growth: { volumeType: 'gp2', throughput: 200 } },
      'growth.throughput: gp2 volumes take no throughput setting (got 200); remove it or use gp3',
    ],
    [{ nodeSets: false }, 'growth.scratch.enabled: a group without node sets'],
  ])('rejects %j with a message naming the field', (input, message) => {
    expect(() => resolveSettings({ groupName: 'etcd', ...(input as object) })).toThrow(ConfigError);
    expect(() => resolveSettings({ groupName: 'etcd', ...(input as object) })).toThrow(message);
  });

  it('reads the settings once from the environment and names the variable when it is missing', () => {
    expect(() => settingsFromEnv({})).toThrow(`${SETTINGS_ENV}: is not set`);
    expect(() => settingsFromEnv({ [SETTINGS_ENV]: '{' })).toThrow(`${SETTINGS_ENV}: is not valid JSON`);
    const s = settingsFromEnv({
      [SETTINGS_ENV]: JSON.stringify({ groupName: 'kafka', mountPoint: '/var/lib/kafka' }),
    });
    expect(s.mountPoint).toBe('/var/lib/kafka');
  });
});
