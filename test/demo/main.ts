/** The demo's main: see index.ts. Returns the exit status. */
import { formatClaims, runClaim, type ClaimResult } from './claims';
import { describeRecovery, EtcdDemo, runEtcdDemo } from './etcd';
import { parseArgs, rootProblem, USAGE, UsageError, type DemoOptions } from './cli';
import { formatVirtual } from './timeline';
import { claimGrownSetMoves, claimGrows, claimNodesComeUp, claimSetMoves, Demo } from './scenarios';

export async function main(argv: string[]): Promise<number> {
  let options: DemoOptions;
  try {
    options = parseArgs(argv);
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`demo: ${error.message}\n\n${USAGE}`);
      return 2;
    }
    throw error;
  }
  if (options.help) {
    console.log(USAGE);
    return 0;
  }
  const problem = rootProblem();
  if (problem) {
    console.error(`demo: ${problem}`);
    return 2;
  }
  if (options.scenario === 'etcd') return mainEtcd(options);
  console.log(
    `berth demo (seed ${options.seed}): local cloud, real handlers, real agent scripts on loop devices\n`,
  );
  const demo = new Demo({ seed: options.seed, out: (line) => console.log(line) });
  const results: ClaimResult[] = [];
  let interrupted = false;
  const onSignal = (): void => {
    interrupted = true;
    console.error('\ndemo: interrupted; cleaning up');
    demo.cleanup(false);
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    demo.setUp();
    results.push(
      await runClaim(
        1,
        'three nodes hold sets node-0..2 (btrfs, mounted, env file); the fourth is a spare',
        (c) => claimNodesComeUp(demo, c),
      ),
    );
    results.push(
      await runClaim(2, 'node-1 is terminated; its set moves with its files (same checksums)', (c) =>
        claimSetMoves(demo, c),
      ),
    );
    results.push(
      await runClaim(
        3,
        'node-2 fills up; the alarm fires; a volume joins its btrfs; df grows; alarm OK',
        (c) => claimGrows(demo, c),
      ),
    );
    results.push(
      await runClaim(4, 'node-2 is replaced; its successor mounts the two-device btrfs with all data', (c) =>
        claimGrownSetMoves(demo, c),
      ),
    );
    console.log('\n== summary');
    console.log(demo.summary());
    console.log('\n== claims');
    console.log(formatClaims(results));
    console.log(
      `\ndone in ${(demo.timeline.elapsedRealMs / 1000).toFixed(1)} s real, ` +
        `${formatVirtual(demo.timeline.elapsedVirtualMs)} of cloud time; ` +
        `${demo.cloud.accounting.count()} AWS calls, ${demo.executor.runs.length} host script runs`,
    );
  } finally {
    if (!interrupted) {
      if (options.keep) {
        demo.cleanup(true);
        console.log(
          `\n--keep: loop devices, mounts and files left under ${demo.host.root}` +
            (demo.net ? `, network namespaces berth-${demo.net.id}-*` : '') +
            ` (undo: ${demo.net ? 'ip netns del each namespace, ' : ''}umount the mounts below it, ` +
            'losetup -d its loop devices, rm -r it)',
        );
      } else demo.cleanup(false);
    }
  }
  return results.length === 4 && results.every((r) => r.ok) ? 0 : 1;
}

/** `npm run demo -- etcd`: the etcd cluster through berth; the last line is the JSON summary. */
async function mainEtcd(options: DemoOptions): Promise<number> {
  console.log(
    `berth etcd demo (seed ${options.seed}): 3 etcd members, each instance a network namespace, ` +
      'real handlers and agent scripts\n',
  );
  const etcd = new EtcdDemo({ seed: options.seed, out: (line) => console.log(line) });
  let interrupted = false;
  const onSignal = (): void => {
    interrupted = true;
    console.error('\ndemo: interrupted; cleaning up');
    etcd.cleanup(false);
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let results: ClaimResult[] = [];
  try {
    etcd.setUp();
    results = await runEtcdDemo(etcd);
    console.log('\n== summary');
    console.log(etcd.demo.summary());
    console.log('\n== claims');
    console.log(formatClaims(results));
    console.log(
      `\ndone in ${(etcd.demo.timeline.elapsedRealMs / 1000).toFixed(1)} s real, ` +
        `${formatVirtual(etcd.demo.timeline.elapsedVirtualMs)} of cloud time; recovery with the hook ` +
        `${etcd.replacedRecovery ? describeRecovery(etcd.replacedRecovery) : '-'}, without ` +
        `${etcd.killedRecovery ? describeRecovery(etcd.killedRecovery) : '-'}`,
    );
  } finally {
    if (!interrupted) {
      etcd.cleanup(options.keep);
      if (options.keep)
        console.log(
          `\n--keep: files and mounts left under ${etcd.demo.host.root}, network namespaces ` +
            `berth-${etcd.net.id}-* with their etcd processes (undo: kill the processes of ` +
            '`ip netns pids <ns>`, ip netns del each, then as for the plain demo)',
        );
    }
  }
  console.log(JSON.stringify(etcd.summary));
  return results.length === 5 && results.every((r) => r.ok) ? 0 : 1;
}
