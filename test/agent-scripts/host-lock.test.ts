/**
 * The host lock and the fence (agent-scripts/include/common.sh): every agent script runs under one
 * exclusive flock per host, so commands sent at once execute one after another; quiesce-node leaves
 * a fence that a later prepare-node refuses. Real scripts on loop devices.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseScriptResult, type ScriptResult } from '../../lambdas/shared/documents';
import { assembledScriptPath } from '../helpers/assembled-scripts';
import { LoopDevices, type LoopVolume } from '../helpers/loop-devices';

const MOUNT_POINT = '/var/lib/etcd';

interface AsyncRun {
  status: number | null;
  stdout: string;
  stderr: string;
  result: ScriptResult | undefined;
}

/** Starts an agent script without waiting for it (two can run at once). */
function start(script: string, env: NodeJS.ProcessEnv): Promise<AsyncRun> {
  const child = spawn('bash', [assembledScriptPath(script)], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolve) =>
    child.on('close', (status) => resolve({ status, stdout, stderr, result: parseScriptResult(stdout) })),
  );
}

describe('the host lock and the fence', () => {
  let loop: LoopDevices;

  beforeEach(() => {
    loop = LoopDevices.create('host-lock');
  });

  afterEach(() => {
    loop.cleanup();
  });

  const prepareParams = (volume: LoopVolume, unit = '') => ({
    VolumeIds: volume.volumeId,
    DeviceNames: '',
    MountPoint: MOUNT_POINT,
    Filesystem: 'btrfs',
    NodeId: 'etcd-1',
    NetworkInterfaceId: '',
    NodeIp: '',
    EnvFile: '',
    ServiceUnit: unit,
  });
  const quiesceParams = { MountPoint: MOUNT_POINT, ServiceUnit: '', TimeoutSeconds: '5' };

  /**
   * A systemctl that stands for a slow step inside the critical section: each call writes
   * `enter <pid> <ns>`, sleeps, then `leave <pid> <ns>` to a probe log.
   */
  const slowSystemctl = (seconds: number): { path: string; log: string } => {
    const path = join(loop.root, 'bin', 'slow-systemctl');
    const log = join(loop.root, 'probe.log');
    writeFileSync(
      path,
      [
        '#!/usr/bin/env bash',
        `echo "enter $PPID $(date +%s%N) $*" >>'${log}'`,
        `sleep ${seconds}`,
        `echo "leave $PPID $(date +%s%N) $*" >>'${log}'`,
        '',
      ].join('\n'),
    );
    chmodSync(path, 0o755);
    return { path, log };
  };

  it('serializes two prepare-node runs started at the same moment: their critical sections never overlap', async () => {
    // Prepare: a blank volume, and a systemctl that takes a second inside each run
    const volume = loop.createVolume({ sizeMiB: 160 });
    const probe = slowSystemctl(1);
    const env = loop.env(prepareParams(volume, 'etcd.service'), { BERTH_SYSTEMCTL: probe.path });

    // Act
    const [a, b] = await Promise.all([start('prepare-node.sh', env), start('prepare-node.sh', env)]);

    // Assess: both succeed, exactly one formatted; the probe's calls come in whole pairs, one run
    // after the other (an enter never follows an enter of the other run)
    expect([a.status, b.status]).toEqual([0, 0]);
    expect([a.result?.formatted, b.result?.formatted].sort()).toEqual([false, true]);
    const lines = readFileSync(probe.log, 'utf8').trim().split('\n');
    const calls = lines.map((line) => {
      const [kind = '', pid = '', ns = '0'] = line.split(' ');
      return { kind, pid, at: BigInt(ns) };
    });
    const first = calls[0]?.pid;
    const switchAt = calls.findIndex((c) => c.pid !== first);
    expect(switchAt).toBeGreaterThan(0);
    // Every call of the first run ends before any call of the second begins.
    expect(calls.slice(switchAt).every((c) => c.pid !== first)).toBe(true);
    const lastLeaveOfFirst = calls[switchAt - 1];
    const firstEnterOfSecond = calls[switchAt];
    expect(lastLeaveOfFirst?.kind).toBe('leave');
    expect(firstEnterOfSecond?.kind).toBe('enter');
    expect((firstEnterOfSecond?.at ?? 0n) >= (lastLeaveOfFirst?.at ?? 0n)).toBe(true);
    // The second run says it waited for the lock (the first holds it for two probe calls of 1 s
    // each); the first waited less. Whole seconds only (bash's SECONDS): on a loaded machine the
    // first may read 1, so the runs are compared, not matched to 0.
    const waits = [a, b].map((r) => Number(/host lock .* taken after (\d+)s/.exec(r.stderr)?.[1] ?? -1));
    expect(Math.max(...waits)).toBeGreaterThanOrEqual(1);
    expect(Math.min(...waits)).toBeGreaterThanOrEqual(0);
    expect(Math.min(...waits)).toBeLessThan(Math.max(...waits));
  }, 60_000);

  it('waits a bounded time: a step that cannot get the lock fails with host-busy and does nothing', () => {
    // Prepare: something else holds the host lock (as a running step would)
    const volume = loop.createVolume({ sizeMiB: 160 });
    const lock = loop.hostPath('/run/berth/host.lock');
    mkdirSync(dirname(lock), { recursive: true });
    const holder = spawn('flock', ['-x', '--no-fork', lock, 'sleep', '30'], { stdio: 'ignore' });
    const deadline = Date.now() + 5000;
    while (!existsSync(lock) && Date.now() < deadline) spawnSync('sleep', ['0.05']);
    spawnSync('sleep', ['0.2']);

    try {
      // Act
      const started = Date.now();
      const run = loop.runScript('prepare-node.sh', prepareParams(volume), { BERTH_LOCK_WAIT_SECONDS: '1' });
      const tookMs = Date.now() - started;

      // Assess: exit 5, one JSON line with its own code, about the bound later; the volume untouched
      expect(run.status).toBe(5);
      expect(run.stdout.trim().split('\n')).toHaveLength(1);
      expect(run.result).toMatchObject({ ok: false, action: 'prepare-node', code: 'host-busy' });
      expect(String(run.result?.error)).toContain('nothing was done');
      expect(tookMs).toBeGreaterThanOrEqual(900);
      expect(tookMs).toBeLessThan(10_000);
      expect(spawnSync('blkid', ['-p', volume.device]).status).toBe(2);
    } finally {
      holder.kill('SIGKILL');
    }
  }, 60_000);

  it('refuses prepare-node after quiesce-node on the same host (the fence), with one clear line', () => {
    // Prepare: the node is prepared, then quiesced (its set is leaving the instance)
    const volume = loop.createVolume({ sizeMiB: 160 });
    expect(loop.runScript('prepare-node.sh', prepareParams(volume)).status).toBe(0);
    expect(loop.runScript('quiesce-node.sh', quiesceParams).status).toBe(0);

    // Act: a late prepare-node (a reconciler's re-prepare, a retried launch) reaches the host
    const run = loop.runScript('prepare-node.sh', prepareParams(volume));

    // Assess: refused, nothing mounted again
    expect(run.status).toBe(3);
    expect(run.stdout.trim().split('\n')).toHaveLength(1);
    expect(run.result).toMatchObject({ ok: false, action: 'prepare-node', code: 'refused' });
    expect(String(run.result?.error)).toMatch(/quiesce-node released this host's set .*\/var\/lib\/etcd/);
    expect(spawnSync('findmnt', ['--mountpoint', loop.hostPath(MOUNT_POINT)]).status).not.toBe(0);
  }, 60_000);

  it('leaves the fence even when nothing was mounted, and a second quiesce-node still succeeds', () => {
    // Act
    const first = loop.runScript('quiesce-node.sh', quiesceParams);
    const second = loop.runScript('quiesce-node.sh', quiesceParams);

    // Assess
    expect([first.status, second.status]).toEqual([0, 0]);
    expect(existsSync(loop.hostPath('/run/berth/quiesced'))).toBe(true);
  });

  it('a prepare-node queued behind quiesce-node is refused: the set was released while it waited', async () => {
    // Prepare: a prepared node, and a quiesce that takes a second (its unit's stop)
    const volume = loop.createVolume({ sizeMiB: 160 });
    expect(loop.runScript('prepare-node.sh', prepareParams(volume)).status).toBe(0);
    const probe = slowSystemctl(1);

    // Act: quiesce-node, and a prepare-node sent a moment later
    const quiesce = start(
      'quiesce-node.sh',
      loop.env({ ...quiesceParams, ServiceUnit: 'etcd.service' }, { BERTH_SYSTEMCTL: probe.path }),
    );
    spawnSync('sleep', ['0.3']);
    const prepare = start('prepare-node.sh', loop.env(prepareParams(volume)));
    const [q, p] = await Promise.all([quiesce, prepare]);

    // Assess
    expect(q.status).toBe(0);
    expect(p.status).toBe(3);
    expect(p.result).toMatchObject({ code: 'refused' });
    expect(spawnSync('findmnt', ['--mountpoint', loop.hostPath(MOUNT_POINT)]).status).not.toBe(0);
  }, 60_000);

  it('grow-filesystem after quiesce-node fails without "refused" (which would let the grow delete the volume)', () => {
    // Prepare
    const volume = loop.createVolume({ sizeMiB: 160 });
    expect(loop.runScript('prepare-node.sh', prepareParams(volume)).status).toBe(0);
    expect(loop.runScript('quiesce-node.sh', quiesceParams).status).toBe(0);
    const grown = loop.createVolume({ sizeMiB: 160 });

    // Act
    const run = loop.runScript('grow-filesystem.sh', {
      Mode: 'add-device',
      VolumeId: grown.volumeId,
      DeviceName: '',
      MountPoint: MOUNT_POINT,
    });

    // Assess
    expect(run.status).toBe(1);
    expect(run.result).toMatchObject({ ok: false, code: 'failed' });
    expect(String(run.result?.error)).toContain("quiesce-node released this host's set");
  });
});
