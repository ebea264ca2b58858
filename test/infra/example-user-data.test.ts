/**
 * The example's user data, read from the synthesized template (the launch template's UserData,
 * with the ENIs' `Fn::GetAtt … PrimaryPrivateIpAddress` resolved to sample IPs as CloudFormation
 * would), checked as text and then run with bash on this machine as close to a first boot as it
 * allows: in a private mount namespace where copies are bind-mounted over /etc/systemd/system,
 * /etc/default and /usr/sbin (nothing on the machine changes), with `apt-get` and `systemctl`
 * stubbed on PATH (etcd is installed here already). The apt-get stub does what the package's
 * maintainer scripts do at install (ask policy-rc.d, then start etcd); the systemctl stub refuses a
 * start whose drop-ins assert a mount point that is not mounted. Finally the member is started for
 * real from Debian's unit plus the drop-ins the user data wrote, inside a mount and network
 * namespace with a tmpfs standing for the set's filesystem.
 *
 * Needs root (mount namespaces); fails, never skips, where they are unavailable.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { buildApp } from '../../infra/app';
import {
  ETCD_DROP_IN,
  ETCD_DROP_IN_DIR,
  GUARD_DROP_IN,
  etcdHostFiles,
  guardDropIn,
} from '../../infra/example-etcd';
import {
  EXAMPLE_ENV_FILE,
  EXAMPLE_GROUP_NAME,
  EXAMPLE_MOUNT_POINT,
  EXAMPLE_NODE_IDS,
} from '../../infra/example-stack';

type Resources = Record<string, { Type: string; Properties: Record<string, unknown> }>;

/** Loopback addresses: local on Linux without configuration, so a member can bind its own. */
const SAMPLE_IPS: Record<string, string> = {
  'etcd-0': '127.0.0.10',
  'etcd-1': '127.0.0.11',
  'etcd-2': '127.0.0.12',
};
const AL2023 = '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64';

function synthesize(context: Record<string, unknown> = {}): Resources {
  const { stack } = buildApp({ context: { 'aws:cdk:bundling-stacks': [], ...context } });
  return (Template.fromStack(stack).toJSON() as { Resources: Resources }).Resources;
}

function launchTemplateData(resources: Resources): Record<string, unknown> {
  const lt = Object.values(resources).find((r) => r.Type === 'AWS::EC2::LaunchTemplate');
  return (lt?.Properties.LaunchTemplateData ?? {}) as Record<string, unknown>;
}

/**
 * The user data script as an instance receives it: the Fn::Join parts, with each ENI's
 * PrimaryPrivateIpAddress replaced by the sample IP of its NodeID tag. Any other intrinsic fails.
 */
function resolvedUserData(resources: Resources, ips: Record<string, string>): string {
  const userData = launchTemplateData(resources).UserData as { 'Fn::Base64': unknown };
  const base64 = userData['Fn::Base64'];
  const parts: unknown[] =
    typeof base64 === 'string'
      ? [base64]
      : ((base64 as { 'Fn::Join': [string, unknown[]] })['Fn::Join'][1] ?? []);
  return parts
    .map((part) => {
      if (typeof part === 'string') return part;
      const [logicalId, attribute] = (part as { 'Fn::GetAtt'?: [string, string] })['Fn::GetAtt'] ?? [];
      const resource = logicalId ? resources[logicalId] : undefined;
      if (resource?.Type !== 'AWS::EC2::NetworkInterface' || attribute !== 'PrimaryPrivateIpAddress') {
        throw new Error(`unexpected intrinsic in the user data: ${JSON.stringify(part)}`);
      }
      const tags = resource.Properties.Tags as { Key: string; Value: string }[];
      const nodeId = tags.find((t) => t.Key === 'NodeID')?.Value ?? '';
      const ip = ips[nodeId];
      if (!ip) throw new Error(`no sample IP for ${nodeId}`);
      return ip;
    })
    .join('');
}

/** The content the script writes to `path` through its quoted here-document. */
function heredocOf(script: string, path: string): string {
  const start = script.indexOf(`cat >${path} <<'BERTH_FILE_END'\n`);
  if (start < 0) return '';
  const body = script.slice(script.indexOf('\n', start) + 1);
  return body.slice(0, body.indexOf('\nBERTH_FILE_END\n') + 1);
}

const membersFile = () =>
  etcdHostFiles({
    mountPoint: EXAMPLE_MOUNT_POINT,
    envFile: EXAMPLE_ENV_FILE,
    members: EXAMPLE_NODE_IDS.map((nodeId) => ({ nodeId, ip: SAMPLE_IPS[nodeId] ?? '' })),
    clusterToken: EXAMPLE_GROUP_NAME,
  });

let ubuntu: string;
let ubuntuData: Record<string, unknown>;
let al2023: string;
let al2023Data: Record<string, unknown>;
let synthSeconds: number;

beforeAll(() => {
  const started = Date.now();
  const resources = synthesize();
  ubuntu = resolvedUserData(resources, SAMPLE_IPS);
  ubuntuData = launchTemplateData(resources);
  const al = synthesize({ 'berth:amiParameter': AL2023, 'berth:filesystem': 'xfs' });
  al2023 = resolvedUserData(al, SAMPLE_IPS);
  al2023Data = launchTemplateData(al);
  synthSeconds = (Date.now() - started) / 1000;
  console.log(`example synthesized twice (Ubuntu, AL2023) in ${synthSeconds.toFixed(1)} s, bundling skipped`);
}, 180_000);

describe('the synthesized example user data', () => {
  it('writes the guard and reloads systemd before installing etcd, and forbids the install-time start', () => {
    const at = (text: string) => ubuntu.indexOf(text);
    const guard = at(`cat >${GUARD_DROP_IN} <<'BERTH_FILE_END'\n`);
    const reload = at('\nsystemctl daemon-reload\n');
    const forbid = at(`printf '#!/bin/sh\\nexit 101\\n' >/usr/sbin/policy-rc.d\n`);
    const install = at('\napt-get install -y -q btrfs-progs etcd-server etcd-client\n');
    expect(ubuntu.startsWith('#!/bin/bash\nset -euo pipefail\n')).toBe(true);
    expect([guard, reload, forbid, install].every((i) => i > 0)).toBe(true);
    expect(guard < reload && reload < forbid && forbid < install).toBe(true);
    expect(heredocOf(ubuntu, GUARD_DROP_IN)).toBe(guardDropIn(EXAMPLE_MOUNT_POINT));
    expect(ubuntu).not.toMatch(/systemctl (start|restart|enable)/);
  });

  it('writes the member drop-in etcdHostFiles renders for the three ENIs, after the install', () => {
    const [file] = membersFile();
    expect(heredocOf(ubuntu, ETCD_DROP_IN)).toBe(file?.content);
    expect(ubuntu.indexOf(`cat >${ETCD_DROP_IN} `)).toBeGreaterThan(ubuntu.indexOf('apt-get install'));
    expect(ubuntu).toContain(
      '--initial-cluster etcd-0=http://127.0.0.10:2380,etcd-1=http://127.0.0.11:2380,etcd-2=http://127.0.0.12:2380',
    );
  });

  it('passes shellcheck, on both images', () => {
    for (const script of [ubuntu, al2023]) {
      const check = spawnSync('shellcheck', ['-'], { input: script, encoding: 'utf8' });
      expect(check.error).toBeUndefined();
      expect(check.stdout).toBe('');
      expect(check.status).toBe(0);
    }
  });

  it("sizes Ubuntu's root device /dev/sda1 and Amazon Linux 2023's /dev/xvda", () => {
    const roots = (data: Record<string, unknown>) =>
      (data.BlockDeviceMappings as { DeviceName: string }[]).map((m) => m.DeviceName);
    expect(roots(ubuntuData)).toEqual(['/dev/sda1']);
    expect(roots(al2023Data)).toEqual(['/dev/xvda']);
  });

  it('on Amazon Linux 2023 writes the guard first, installs the checked upstream etcd with its own unit and the same member drop-in', () => {
    const guard = al2023.indexOf(`cat >${GUARD_DROP_IN} `);
    const download = al2023.indexOf('\ncurl -fsSL ');
    expect(guard).toBeGreaterThan(0);
    expect(download).toBeGreaterThan(guard);
    expect(al2023).toContain('| sha256sum -c -\n');
    expect(al2023).toContain('\ndnf install -y -q tar xfsprogs\n');
    expect(al2023).not.toMatch(/apt-get|policy-rc\.d|systemctl start/);
    expect(heredocOf(al2023, ETCD_DROP_IN)).toBe(membersFile()[0]?.content);
    expect(heredocOf(al2023, '/etc/systemd/system/etcd.service')).toContain('\nUser=etcd\n');
  });
});

// ---- running it --------------------------------------------------------------------------------

const STUB_APT_GET = `#!/bin/bash
# apt-get stand-in: etcd is installed here already. At install it does what the package's
# maintainer scripts do (deb-systemd-invoke): ask policy-rc.d, then start the service unless forbidden.
log() { printf '%s\\n' "$*" >>"$BERTH_TEST_LOG"; }
log "apt-get $*"
case " $* " in
*" install "*)
  if [ -f ${GUARD_DROP_IN} ]; then log "apt-get: guard present"; else log "apt-get: guard absent"; fi
  rc=0
  if [ -x /usr/sbin/policy-rc.d ]; then /usr/sbin/policy-rc.d etcd.service start || rc=$?; fi
  log "apt-get: policy-rc.d etcd.service start -> $rc"
  if [ "$rc" -ne 101 ]; then systemctl start etcd.service || true; fi
  ;;
esac
exit 0
`;

const STUB_SYSTEMCTL = `#!/bin/bash
# systemctl stand-in: logs; a start is refused when a drop-in asserts a mount point that is not one.
log() { printf '%s\\n' "$*" >>"$BERTH_TEST_LOG"; }
log "systemctl $*"
if [ "\${1:-}" = start ]; then
  for f in ${ETCD_DROP_IN_DIR}/*.conf; do
    [ -e "$f" ] || continue
    while IFS= read -r line; do
      case $line in
      AssertPathIsMountPoint=*)
        path=\${line#AssertPathIsMountPoint=}
        if ! mountpoint -q "$path"; then
          log "systemctl: refused $2: AssertPathIsMountPoint=$path failed"
          exit 1
        fi
        ;;
      esac
    done <"$f"
  done
  log "systemctl: started $2"
fi
exit 0
`;

/** A private copy of the machine's directories the user data writes into, bind-mounted over them. */
const SHADOWED = ['/etc/systemd/system', '/etc/default', '/usr/sbin'] as const;

interface Run {
  dir: string;
  status: number | null;
  stderr: string;
  log: string[];
  /** The shadowed directory's copy, as the user data left it. */
  root: (path: string) => string;
}

function unshareProblem(): string | undefined {
  const probe = spawnSync('unshare', ['--mount', '--propagation', 'private', 'true'], { encoding: 'utf8' });
  if (probe.error) return `unshare could not run (${probe.error.message})`;
  if (probe.status !== 0)
    return `unshare --mount failed: ${probe.stderr.trim()} (uid ${process.getuid?.()}; root needed)`;
  return undefined;
}

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/**
 * Runs `script` with bash in a private mount namespace over copies of SHADOWED (`/usr/sbin` holds
 * only `policyRcD` when given: the user data needs nothing else there), the stubs first on PATH,
 * then `after` (more shell, same namespace).
 */
function runUserData(script: string, options: { policyRcD?: string; after?: string } = {}): Run {
  const dir = mkdtempSync(join(tmpdir(), 'berth-user-data-'));
  dirs.push(dir);
  const root = (path: string) => join(dir, 'root', path);
  for (const path of SHADOWED) {
    if (path === '/usr/sbin') mkdirSync(root(path), { recursive: true });
    else cpSync(path, root(path), { recursive: true, verbatimSymlinks: true });
  }
  if (options.policyRcD !== undefined) {
    writeFileSync(root('/usr/sbin/policy-rc.d'), options.policyRcD);
    chmodSync(root('/usr/sbin/policy-rc.d'), 0o755);
  }
  mkdirSync(join(dir, 'bin'));
  for (const [name, body] of [
    ['apt-get', STUB_APT_GET],
    ['systemctl', STUB_SYSTEMCTL],
  ] as const) {
    writeFileSync(join(dir, 'bin', name), body);
    chmodSync(join(dir, 'bin', name), 0o755);
  }
  writeFileSync(join(dir, 'user-data.sh'), script);
  writeFileSync(join(dir, 'log'), '');
  writeFileSync(
    join(dir, 'run.sh'),
    [
      'set -euo pipefail',
      ...SHADOWED.map((path) => `mount --bind ${root(path)} ${path}`),
      `export BERTH_TEST_LOG=${join(dir, 'log')} PATH=${join(dir, 'bin')}:$PATH`,
      `rc=0; bash ${join(dir, 'user-data.sh')} || rc=$?`,
      `printf 'user data exited %s\\n' "$rc" >>"$BERTH_TEST_LOG"`,
      options.after ?? '',
      '',
    ].join('\n'),
  );
  const run = spawnSync('unshare', ['--mount', '--propagation', 'private', 'bash', join(dir, 'run.sh')], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  const log = readFileSync(join(dir, 'log'), 'utf8').split('\n').filter(Boolean);
  return { dir, status: run.status, stderr: run.stderr, log, root };
}

describe('the example user data, run in a private mount namespace', () => {
  let first: Run;

  beforeAll(() => {
    const problem = unshareProblem();
    if (problem) throw new Error(`mount namespaces are unavailable here: ${problem}`);
    const started = Date.now();
    first = runUserData(ubuntu, {
      after: [
        '# a plain start while the set is not mounted, then once a filesystem is mounted there',
        "# systemd's own parser on the unit and the drop-ins (it reports unknown keys and bad settings)",
        'systemd-analyze verify etcd.service >"$BERTH_TEST_LOG.verify" 2>&1 || echo "verify exited $?" >>"$BERTH_TEST_LOG.verify"',
        `systemctl start etcd.service || true`,
        `mount -t tmpfs berth-test-set ${EXAMPLE_MOUNT_POINT}`,
        `systemctl start etcd.service`,
      ].join('\n'),
    });
    console.log(
      `user data ran in ${((Date.now() - started) / 1000).toFixed(1)} s:\n  ${first.log.join('\n  ')}`,
    );
  });

  it('runs to the end and lands the guard and the member drop-in byte for byte', () => {
    expect({ status: first.status, stderr: first.stderr }).toEqual({ status: 0, stderr: '' });
    expect(first.log).toContain('user data exited 0');
    const dropIns = readdirSync(first.root(ETCD_DROP_IN_DIR)).sort();
    expect(dropIns).toEqual(['10-berth-guard.conf', '20-berth-etcd.conf']);
    expect(readFileSync(first.root(GUARD_DROP_IN), 'utf8')).toBe(guardDropIn(EXAMPLE_MOUNT_POINT));
    const [file] = membersFile();
    expect(readFileSync(first.root(ETCD_DROP_IN), 'utf8')).toBe(file?.content);
    expect(
      (execFileSync('stat', ['-c', '%a', first.root(ETCD_DROP_IN)], { encoding: 'utf8' }) as string).trim(),
    ).toBe('644');
  });

  it("passes systemd's own check of Debian's unit with the drop-ins (systemd-analyze verify: no unknown key, no bad setting)", () => {
    expect(readFileSync(join(first.dir, 'log.verify'), 'utf8')).toBe('');
  });

  it('had the guard in place and reloaded before the install, and the install could not start etcd', () => {
    const installAt = first.log.indexOf('apt-get install -y -q btrfs-progs etcd-server etcd-client');
    expect(installAt).toBeGreaterThan(0);
    expect(first.log.indexOf('systemctl daemon-reload')).toBeLessThan(installAt);
    expect(first.log.slice(installAt + 1, installAt + 3)).toEqual([
      'apt-get: guard present',
      'apt-get: policy-rc.d etcd.service start -> 101',
    ]);
    // Nothing started etcd during the user data; the last line is a reload after the member drop-in.
    const ran = first.log.slice(0, first.log.indexOf('user data exited 0'));
    expect(ran.filter((l) => l.includes('start'))).toEqual([
      'apt-get: policy-rc.d etcd.service start -> 101',
    ]);
    expect(ran.at(-1)).toBe('systemctl daemon-reload');
  });

  it('removes its policy-rc.d afterwards, so later package starts are not blocked', () => {
    expect(existsSync(first.root('/usr/sbin/policy-rc.d'))).toBe(false);
    expect(readdirSync(first.root('/usr/sbin'))).toEqual([]);
  });

  it("puts back an image's own policy-rc.d", () => {
    const own = '#!/bin/sh\n# the image says\nexit 0\n';
    const run = runUserData(ubuntu, { policyRcD: own });
    expect(run.log).toContain('user data exited 0');
    expect(run.log).toContain('apt-get: policy-rc.d etcd.service start -> 101');
    expect(readFileSync(run.root('/usr/sbin/policy-rc.d'), 'utf8')).toBe(own);
    expect(readdirSync(run.root('/usr/sbin'))).toEqual(['policy-rc.d']);
  });

  it('refuses a start of etcd while the mount point is not mounted, and allows it once the set is', () => {
    const after = first.log.slice(first.log.indexOf('user data exited 0') + 1);
    expect(after).toEqual([
      'systemctl start etcd.service',
      `systemctl: refused etcd.service: AssertPathIsMountPoint=${EXAMPLE_MOUNT_POINT} failed`,
      'systemctl start etcd.service',
      'systemctl: started etcd.service',
    ]);
    // The same judgement from the files alone: the drop-ins assert the mount point, which is none here.
    const asserted = readdirSync(first.root(ETCD_DROP_IN_DIR)).flatMap((f) =>
      readFileSync(join(first.root(ETCD_DROP_IN_DIR), f), 'utf8')
        .split('\n')
        .filter((l) => l.startsWith('AssertPathIsMountPoint=')),
    );
    expect(asserted).toEqual([`AssertPathIsMountPoint=${EXAMPLE_MOUNT_POINT}`]);
    expect(spawnSync('mountpoint', ['-q', EXAMPLE_MOUNT_POINT]).status).not.toBe(0);
  });

  describe("the member, started from Debian's unit and the drop-ins the user data wrote", () => {
    it('runs etcd as the etcd user on the mounted set with the member flags (no ETCD_* conflict) and an etcd-owned 0700 data dir', () => {
      const plan = startPlan(first.root(ETCD_DROP_IN_DIR), envFileOf('etcd-0'));
      expect(plan.assertMountPoints).toEqual([EXAMPLE_MOUNT_POINT]);
      expect(plan.user).toBe('etcd');
      const result = startMember(plan, first.dir, 'ok');
      expect(result).toMatchObject({ listening: true, walCreated: true, dataDir: 'etcd 700' });
      expect(result.log).toContain('etcd-0');
    });

    it('would not start without the drop-in unsetting the ETCD_* variables Debian sets (why UnsetEnvironment is there)', () => {
      const plan = startPlan(first.root(ETCD_DROP_IN_DIR), envFileOf('etcd-0'), { ignoreUnset: true });
      const result = startMember(plan, first.dir, 'conflict');
      expect(result.listening).toBe(false);
      expect(result.log).toMatch(/conflicting environment variable "ETCD_(NAME|DATA_DIR)" is shadowed/);
    });
  });
});

// ---- a unit start, as systemd would do it (just what etcd.service uses) --------------------------

const DEBIAN_UNIT = '/lib/systemd/system/etcd.service';

/** berth's env file as prepare-node writes it for one node. */
const envFileOf = (nodeId: string): string =>
  [
    `NODE_ID=${nodeId}`,
    `NODE_IP=${SAMPLE_IPS[nodeId] ?? ''}`,
    'VOLUME_IDS=vol-0123456789abcdef0',
    'NETWORK_INTERFACE_ID=eni-0123456789abcdef0',
    `MOUNT_POINT=${EXAMPLE_MOUNT_POINT}`,
    '',
  ].join('\n');

interface StartPlan {
  assertMountPoints: string[];
  user: string;
  env: Record<string, string>;
  /** Commands run before, with full privileges (`+`). */
  pre: string[][];
  start: string[];
}

/**
 * Debian's unit plus the drop-ins in `dropInDir` (lexical order), read as systemd reads them for
 * the settings etcd.service uses: Environment= (with %H, %p), EnvironmentFile= (`-` optional; the
 * berth env file is `berthEnv`), UnsetEnvironment=, ExecStartPre=/ExecStart= (empty resets,
 * `${VAR}` expansion, `+`), User=, AssertPathIsMountPoint=.
 */
function startPlan(dropInDir: string, berthEnv: string, options: { ignoreUnset?: boolean } = {}): StartPlan {
  const texts = [
    readFileSync(DEBIAN_UNIT, 'utf8'),
    ...readdirSync(dropInDir)
      .filter((f) => f.endsWith('.conf'))
      .sort()
      .map((f) => readFileSync(join(dropInDir, f), 'utf8')),
  ];
  const specifiers = (v: string) => v.replace(/%H/g, hostname()).replace(/%p/g, 'etcd').replace(/%%/g, '%');
  const plan: StartPlan = { assertMountPoints: [], user: 'root', env: {}, pre: [], start: [] };
  const envFiles: string[] = [];
  const unset: string[] = [];
  let pre: string[] = [];
  let start: string[] = [];
  for (const text of texts) {
    for (const raw of text.split('\n')) {
      const line = raw.trim();
      if (!line || line.startsWith('#') || line.startsWith('[')) continue;
      const eq = line.indexOf('=');
      const key = line.slice(0, eq);
      const value = specifiers(line.slice(eq + 1));
      if (key === 'Environment') {
        for (const assignment of value.split(/\s+/).filter(Boolean)) {
          const at = assignment.indexOf('=');
          plan.env[assignment.slice(0, at)] = assignment.slice(at + 1);
        }
      } else if (key === 'EnvironmentFile') envFiles.push(value);
      else if (key === 'UnsetEnvironment') unset.push(...value.split(/\s+/).filter(Boolean));
      else if (key === 'ExecStartPre') pre = value ? [...pre, value] : [];
      else if (key === 'ExecStart') start = value ? [value] : [];
      else if (key === 'User') plan.user = value;
      else if (key === 'AssertPathIsMountPoint') plan.assertMountPoints.push(value);
    }
  }
  for (const file of envFiles) {
    const optional = file.startsWith('-');
    const path = optional ? file.slice(1) : file;
    const text =
      path === EXAMPLE_ENV_FILE ? berthEnv : existsSync(path) ? readFileSync(path, 'utf8') : undefined;
    if (text === undefined) {
      if (optional) continue;
      throw new Error(`EnvironmentFile ${path} is missing`);
    }
    for (const line of text.split('\n')) {
      const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
      if (m?.[1]) plan.env[m[1]] = (m[2] ?? '').replace(/^"(.*)"$/, '$1');
    }
  }
  if (!options.ignoreUnset) for (const name of unset) delete plan.env[name];
  const expand = (command: string) =>
    command
      .split(/\s+/)
      .filter(Boolean)
      .map((word) =>
        word.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, name: string) => plan.env[name] ?? ''),
      );
  plan.pre = pre.map((command) => expand(command.replace(/^\+/, '')));
  const [main] = start;
  if (main === undefined) throw new Error('no ExecStart');
  if (/^[+!:@-]/.test(main)) throw new Error(`unexpected ExecStart prefix: ${main}`);
  plan.start = expand(main);
  return plan;
}

const quote = (word: string) => `'${word.replace(/'/g, `'\\''`)}'`;

/**
 * Starts the plan inside a fresh mount + network namespace (its own loopback, so the member's
 * ports touch nothing else): a tmpfs stands for the set's filesystem at the mount point, the
 * assertions are checked, the privileged commands run as root, etcd as the unit's user; the member
 * counts as started once its peer port answers and its WAL exists (bounded: 15 s), then it is
 * stopped.
 */
function startMember(
  plan: StartPlan,
  dir: string,
  name: string,
): { listening: boolean; walCreated: boolean; dataDir: string; log: string } {
  const out = join(dir, `member-${name}`);
  mkdirSync(out);
  const envArgs = Object.entries(plan.env).map(([k, v]) => quote(`${k}=${v}`));
  const ip = plan.env.NODE_IP ?? '';
  const script = [
    'set -uo pipefail',
    'ip link set lo up',
    `mount -t tmpfs berth-test-set ${EXAMPLE_MOUNT_POINT}`,
    ...plan.assertMountPoints.map(
      (p) => `mountpoint -q ${quote(p)} || { echo "assert ${p}" >${out}/refused; exit 0; }`,
    ),
    ...plan.pre.map((argv) => `${argv.map(quote).join(' ')} || exit 1`),
    `setpriv --reuid ${quote(plan.user)} --regid ${quote(plan.user)} --init-groups -- env -i PATH=/usr/bin:/bin ${envArgs.join(' ')} ${plan.start.map(quote).join(' ')} >${out}/etcd.log 2>&1 &`,
    'pid=$!',
    'listening=false',
    'for _ in $(seq 1 75); do',
    `  if (exec 3<>/dev/tcp/${ip}/2380) 2>/dev/null && [ -d ${EXAMPLE_MOUNT_POINT}/data/member/wal ]; then listening=true; break; fi`,
    '  kill -0 "$pid" 2>/dev/null || break',
    '  sleep 0.2',
    'done',
    `echo "$listening" >${out}/listening`,
    `if [ -d ${EXAMPLE_MOUNT_POINT}/data/member/wal ]; then echo true; else echo false; fi >${out}/wal`,
    `stat -c '%U %a' ${EXAMPLE_MOUNT_POINT}/data >${out}/data-dir 2>/dev/null || echo missing >${out}/data-dir`,
    'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null',
    'exit 0',
  ].join('\n');
  writeFileSync(join(out, 'start.sh'), script);
  const run = spawnSync(
    'unshare',
    ['--mount', '--net', '--propagation', 'private', 'bash', join(out, 'start.sh')],
    {
      encoding: 'utf8',
      timeout: 30_000,
    },
  );
  if (run.status !== 0) throw new Error(`member start script failed (${run.status}): ${run.stderr}`);
  const read = (f: string) => (existsSync(join(out, f)) ? readFileSync(join(out, f), 'utf8').trim() : '');
  return {
    listening: read('listening') === 'true',
    walCreated: read('wal') === 'true',
    dataDir: read('data-dir'),
    log: read('etcd.log'),
  };
}
