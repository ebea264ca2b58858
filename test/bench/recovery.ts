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
 * the model's latencies (printed in `latencies`, each with where its value comes from) and the
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
    const cloud = etcd.demo.cloud;
    const line: RecoveryLine = {
      bench: 'recovery',
      withHook: etcd.replacedRecovery ?? null,
      withoutHook: etcd.killedRecovery ?? null,
      latencies: {
        instanceBoot: {
          seconds: cloud.ec2.timing.instanceBootMs / 1000,
          source: 'local cloud model: Ec2Model.timing.instanceBootMs (local-cloud/src/ec2/index.ts)',
        },
        instanceTerminate: {
          seconds: cloud.ec2.timing.instanceTerminateMs / 1000,
          source: 'local cloud model: Ec2Model.timing.instanceTerminateMs (local-cloud/src/ec2/index.ts)',
        },
        volumeAttach: {
          seconds: cloud.ec2.timing.attachMs / 1000,
          source: 'local cloud model: Ec2Model.timing.attachMs (local-cloud/src/ec2/index.ts)',
        },
        volumeDetach: {
          seconds: cloud.ec2.timing.detachMs / 1000,
          source: 'local cloud model: Ec2Model.timing.detachMs (local-cloud/src/ec2/index.ts)',
        },
        ssmAgentOnline: {
          seconds: cloud.ssm.agentOnlineDelayMs / 1000,
          source: 'local cloud model: SsmModel.agentOnlineDelayMs, after boot (local-cloud/src/ssm/index.ts)',
        },
        ssmDelivery: {
          seconds: cloud.ssm.deliveryDelayMs / 1000,
          source: 'local cloud model: SsmModel.deliveryDelayMs (local-cloud/src/ssm/index.ts)',
        },
      },
      failures,
    };
    console.log(JSON.stringify(line));
  } finally {
    etcd.cleanup();
  }
  if (failures.length > 0) process.exitCode = 1;
}
