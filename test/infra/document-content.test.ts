import { COMMAND_PARAMETERS, PARAMETER_PATTERNS, commandDocumentContent } from '../../infra/document-content';
import { contractBlock, DEVICE_NAMES } from '../../lambdas/shared/contract';
import { nextFreeDevice } from '../../lambdas/aws/attachments';

/** A script as the documents expect one: a shebang and the contract block. */
const SCRIPT = `#!/usr/bin/env bash\n${contractBlock()}\necho hi\n`;

const accepts = (name: keyof typeof PARAMETER_PATTERNS, value: string) =>
  new RegExp(PARAMETER_PATTERNS[name]).test(value);

/** Values an attacker (or a bug) might pass, each of which must be refused by every pattern. */
const INJECTIONS = [
  '/data; rm -rf /',
  '/data && reboot',
  '/data|nc evil 1',
  '$(reboot)',
  '`reboot`',
  '/data/$(id)',
  "/data'",
  '/data"',
  '/data\nreboot',
  '/data\\x',
  '{{ commands }}',
  '/data > /etc/passwd',
  '/da ta',
];

describe('SSM parameter patterns', () => {
  it('accept the values berth sends', () => {
    expect(accepts('volumeIds', 'vol-0123456789abcdef0')).toBe(true);
    expect(accepts('volumeIds', 'vol-0123456789abcdef0,vol-12345678')).toBe(true);
    expect(accepts('volumeId', 'vol-12345678')).toBe(true);
    expect(accepts('deviceNames', '/dev/sdf,/dev/sdg,/dev/xvdba')).toBe(true);
    expect(accepts('deviceNames', '')).toBe(true);
    expect(accepts('deviceName', '/dev/sdp')).toBe(true);
    expect(accepts('path', '/data')).toBe(true);
    expect(accepts('path', '/var/lib/etcd')).toBe(true);
    expect(accepts('path', '/mnt/data-1/kafka_logs@a+b')).toBe(true);
    expect(accepts('optionalPath', '')).toBe(true);
    expect(accepts('optionalPath', '/run/berth/environment')).toBe(true);
    expect(accepts('filesystem', 'btrfs')).toBe(true);
    expect(accepts('filesystem', 'xfs')).toBe(true);
    expect(accepts('nodeId', 'etcd-0')).toBe(true);
    expect(accepts('nodeId', '')).toBe(true);
    expect(accepts('optionalEni', 'eni-0123456789abcdef0')).toBe(true);
    expect(accepts('optionalIpv4', '10.0.12.254')).toBe(true);
    expect(accepts('optionalIpv4', '')).toBe(true);
    expect(accepts('optionalUnit', 'etcd.service')).toBe(true);
    expect(accepts('optionalUnit', 'kafka@1.service')).toBe(true);
    expect(accepts('growMode', 'add-device')).toBe(true);
    expect(accepts('seconds', '120')).toBe(true);
    expect(accepts('instanceId', 'i-0123456789abcdef0')).toBe(true);
    expect(accepts('sizeGiB', '0')).toBe(true);
    expect(accepts('sizeGiB', '150')).toBe(true);
  });

  it.each(Object.keys(PARAMETER_PATTERNS) as (keyof typeof PARAMETER_PATTERNS)[])(
    'pattern %s refuses every injection attempt',
    (name) => {
      for (const value of INJECTIONS)
        expect({ value, accepted: accepts(name, value) }).toEqual({ value, accepted: false });
    },
  );

  it('refuse paths that climb, hide, end in a slash or are not absolute', () => {
    for (const value of [
      '/data/../etc',
      '/..',
      '/.',
      '/data/./x',
      '/data/.hidden',
      '/data/',
      '/',
      'data',
      '',
      '//data',
    ]) {
      expect({ value, accepted: accepts('path', value) }).toEqual({ value, accepted: false });
    }
  });

  it('refuse lists with a stray or foreign element', () => {
    expect(accepts('volumeIds', 'vol-12345678,')).toBe(false);
    expect(accepts('volumeIds', 'vol-12345678,snap-12345678')).toBe(false);
    expect(accepts('volumeIds', 'vol-XYZ45678')).toBe(false);
    expect(accepts('volumeIds', '')).toBe(false);
    expect(accepts('deviceNames', '/dev/sda1')).toBe(false);
    expect(accepts('deviceNames', '/dev/nvme1n1')).toBe(false);
    expect(accepts('deviceName', '/dev/sda')).toBe(false);
    expect(accepts('deviceName', '/dev/sdba')).toBe(false);
    expect(accepts('deviceName', '/dev/xvdda')).toBe(false);
  });

  it('accept every device name the Lambdas pick, up to the last one an instance can take', () => {
    // Prepare: the names nextFreeDevice hands out one after the other (the launch and grow path)
    const picked: string[] = ['/dev/xvda'];
    for (;;) {
      const next = nextFreeDevice(picked, Number.MAX_SAFE_INTEGER);
      if (!next) break;
      picked.push(next);
    }
    // Act
    const refused = picked.slice(1).filter((name) => !accepts('deviceName', name));
    // Assess
    expect(picked.slice(1)).toEqual(DEVICE_NAMES);
    expect(refused).toEqual([]);
    expect(accepts('deviceNames', picked.slice(1).join(','))).toBe(true);
  });

  it('refuse unit names that systemctl would read as options, and other odd values', () => {
    expect(accepts('optionalUnit', '-Hevil.service')).toBe(false);
    expect(accepts('optionalUnit', '--host=evil.service')).toBe(false);
    expect(accepts('optionalUnit', 'etcd')).toBe(false);
    expect(accepts('filesystem', 'zfs')).toBe(false);
    expect(accepts('growMode', 'shrink')).toBe(false);
    expect(accepts('optionalIpv4', '10.0.0.256')).toBe(false);
    expect(accepts('optionalIpv4', '10.0.0')).toBe(false);
    expect(accepts('optionalEni', 'eni-zz')).toBe(false);
    expect(accepts('seconds', '0')).toBe(false);
    expect(accepts('seconds', '-1')).toBe(false);
    expect(accepts('nodeId', 'etcd 0')).toBe(false);
    expect(accepts('instanceId', 'i-0123456789abcdef0,i-0123456789abcdef1')).toBe(false);
    expect(accepts('sizeGiB', '007')).toBe(false);
  });
});

describe('Command document content', () => {
  it.each(Object.keys(COMMAND_PARAMETERS) as (keyof typeof COMMAND_PARAMETERS)[])(
    '%s hands every parameter over as an environment variable with a pattern, and runs the script as one element',
    (key) => {
      const content = commandDocumentContent(key, SCRIPT, 600);
      expect(content.schemaVersion).toBe('2.2');
      for (const [name, parameter] of Object.entries(content.parameters)) {
        expect({ name, interpolationType: parameter.interpolationType, type: parameter.type }).toEqual({
          name,
          interpolationType: 'ENV_VAR',
          type: 'String',
        });
        expect(parameter.allowedPattern).toMatch(/^\^.*\$$/);
      }
      expect(content.mainSteps).toEqual([
        expect.objectContaining({
          action: 'aws:runShellScript',
          inputs: { timeoutSeconds: '600', runCommand: [SCRIPT] },
        }),
      ]);
    },
  );

  it('gives optional parameters an empty default and required ones none', () => {
    const content = commandDocumentContent('prepareNode', SCRIPT, 600);
    expect(content.parameters.ServiceUnit?.default).toBe('');
    expect(content.parameters.VolumeIds).not.toHaveProperty('default');
    expect(content.parameters.MountPoint).not.toHaveProperty('default');
  });
});

describe('the contract block of a script', () => {
  it('is written from lambdas/shared/contract.ts whatever the file holds', () => {
    // Prepare: a stale block in the file
    const stale = SCRIPT.replace(/NODE_ID_PATTERN='[^']*'/, () => "NODE_ID_PATTERN='^stale$'");
    // Act
    const content = commandDocumentContent('prepareNode', stale, 600);
    // Assess
    expect(content.mainSteps[0]?.inputs.runCommand).toEqual([SCRIPT]);
  });

  it('must be present, so that no document ships a validator without it', () => {
    expect(() => commandDocumentContent('prepareNode', '#!/usr/bin/env bash\necho hi\n', 600)).toThrow(
      /^prepareNode has no berth contract block/,
    );
  });
});
