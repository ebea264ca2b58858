/**
 * `npm run bench -- recovery [--seed N] [--keys N]`
 *
 * How long a 3-member etcd cluster run through berth takes to be whole again after it loses a
 * member: from the terminate hook (Auto Scaling terminates the instance; berth quiesces it, moves
 * the set, the replacement prepares it) and from an instance lost without its hook (etcd SIGKILLed,
 * the instance terminated by EC2 behind the group's back), each until `etcdctl endpoint health
 * --cluster` says all 3 members are healthy. The world is the etcd demo's (test/demo/etcd.ts):
 * network namespaces, loop devices, the real handlers and agent scripts.
 *
 * The AWS part is the local cloud's virtual time up to the new holder's prepare-node: it is made of
 * the public latencies of RECOVERY_LATENCIES (printed in `latencies` with their sources) and the
 * handlers' own polls. The host part is measured for real: the scripts (and the handlers' CPU)
 * until the cloud is quiet, then etcd rejoining. One JSON line on stdout.
 */
import { runClaim } from '../demo/claims';
import {
  claimClusterUp,
  claimMemberKilled,
  claimMemberReplaced,
  EtcdDemo,
  type Recovery,
} from '../demo/etcd';
import { rootProblem } from '../demo/cli';
import { benchArgs } from './args';

export interface RecoveryLine {
  bench: 'recovery';
  withHook: Recovery | null;
  withoutHook: Recovery | null;
  latencies: Record<string, { seconds: number; source: string }>;
  failures: string[];
}

/**
 * The AWS latencies on the recovery path, each from a public measurement: the local cloud runs
 * with these instead of its defaults, so the figure reads as a real account would show it.
 */
export const RECOVERY_LATENCIES: RecoveryLine['latencies'] = {
  instanceBoot: {
    seconds: 5,
    source:
      'pending to running, median of 9 launches (c5.xlarge, Linux AMIs): ec2-boot-bench, daemonology.net/blog/2021-08-12-EC2-boot-time-benchmarking.html',
  },
  ssmAgentOnline: {
    seconds: 30,
    source:
      'running to SSM Online: "from 30s to several minutes" (DataDog/stratus-red-team#108); the OS alone takes ~23 s from running to sshd (ec2-boot-bench, above)',
  },
  volumeAttach: {
    seconds: 10,
    source:
      'AttachVolume to attached: ~15 s for attach and mount of an EBS PVC (kubernetes/kubernetes#62119); Netflix titus-executor waited 20 s (raised to 60 s for the tail, Netflix/titus-executor#665)',
  },
  volumeDetach: {
    seconds: 10,
    source:
      'DetachVolume to available: inside the 20 s Netflix/titus-executor#665 waited for attach and detach',
  },
  ssmDelivery: {
    seconds: 5,
    source:
      'SendCommand to the result of a one-line command: 5 s in the log of DataDog/stratus-red-team#108 (09:19:55 to 09:20:00)',
  },
};

function useRecoveryLatencies(cloud: EtcdDemo['demo']['cloud']): void {
  const ms = (key: string) => (RECOVERY_LATENCIES[key]?.seconds ?? 0) * 1000;
  cloud.ec2.timing.instanceBootMs = ms('instanceBoot');
  cloud.ec2.timing.attachMs = ms('volumeAttach');
  cloud.ec2.timing.detachMs = ms('volumeDetach');
  cloud.ssm.agentOnlineDelayMs = ms('ssmAgentOnline');
  cloud.ssm.deliveryDelayMs = ms('ssmDelivery');
}

export async function run(args: string[]): Promise<void> {
  const options = benchArgs(args, {
    bench: 'recovery',
    summary:
      'seconds until a 3-member etcd cluster through berth is healthy again: with and without the hook',
    options: {
      seed: { type: 'int', default: 1, min: 0, description: "seed of the local cloud's random choices" },
      keys: { type: 'int', default: 60, min: 1, max: 1000, description: 'keys written before the losses' },
    },
  });
  if (!options) return;
  const problem = rootProblem();
  if (problem) throw new Error(problem);
  // The timeline stays quiet: stdout carries the one JSON line.
  const etcd = new EtcdDemo({ seed: options.seed ?? 1, keys: options.keys ?? 60, out: () => undefined });
  useRecoveryLatencies(etcd.demo.cloud);
  const failures: string[] = [];
  try {
    etcd.setUp();
    const steps = [
      ['cluster up', claimClusterUp],
      ['member replaced through its hook', claimMemberReplaced],
      ['member lost without its hook', claimMemberKilled],
    ] as const;
    for (const [i, [title, claim]] of steps.entries()) {
      const result = await runClaim(i + 1, title, (c) => claim(etcd, c));
      if (!result.ok) {
        failures.push(
          ...result.checks.filter((c) => !c.ok).map((c) => `${title}: ${c.text}`),
          ...(result.error ? [`${title}: ${result.error}`] : []),
        );
      }
      process.stderr.write(`recovery: ${title}: ${result.ok ? 'ok' : 'FAILED'}\n`);
    }
    const line: RecoveryLine = {
      bench: 'recovery',
      withHook: etcd.replacedRecovery ?? null,
      withoutHook: etcd.killedRecovery ?? null,
      latencies: RECOVERY_LATENCIES,
      failures,
    };
    console.log(JSON.stringify(line));
  } finally {
    etcd.cleanup();
  }
  if (failures.length > 0) process.exitCode = 1;
}
