/** Command line of `npm run demo`: options, and the root check the loop devices need. */

export interface DemoOptions {
  /** Which demo: berth's whole job (default), or a real etcd cluster in network namespaces. */
  scenario: 'default' | 'etcd';
  /** Leave loop devices, mounts and files in place for inspection. */
  keep: boolean;
  /** Seed of every random choice of the local cloud (ids, IPs, set search offsets). */
  seed: number;
  help: boolean;
}

export const USAGE = `usage: npm run demo [-- etcd] [-- --keep] [-- --seed N]

Runs berth's whole job on this machine: a local cloud (EC2, Auto Scaling, SSM, CloudWatch) with a
group of 4 instances over 3 AZs and 3 NodeID sets, the real Lambda handlers, and the real agent
scripts on loop devices that stand for EBS volumes (btrfs). Needs root (losetup, mkfs, mount).

  etcd       instead: a real 3-member etcd cluster through berth, each instance a network
             namespace (member replaced, member killed, grown while writing, a reboot with the
             volume missing); ends with one JSON line
  --keep     leave the loop devices, mounts and work directory for inspection
  --seed N   seed of the local cloud's random choices (default 1)
  --help     this text`;

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export function parseArgs(argv: readonly string[]): DemoOptions {
  const options: DemoOptions = { scenario: 'default', keep: false, seed: 1, help: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === 'etcd' && i === 0) options.scenario = 'etcd';
    else if (arg === '--keep') options.keep = true;
    else if (arg === '--help' || arg === '-h') options.help = true;
    else if (arg === '--seed' || arg.startsWith('--seed=')) {
      const value = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : argv[++i];
      const seed = Number(value);
      if (value === undefined || value === '' || !Number.isInteger(seed) || seed < 0 || seed > 2 ** 32 - 1)
        throw new UsageError(`--seed needs an integer from 0 to 4294967295 (got ${JSON.stringify(value)})`);
      options.seed = seed;
    } else throw new UsageError(`unknown option ${JSON.stringify(arg)}`);
  }
  return options;
}

/** Why this process cannot run the host side (loop devices, mkfs, mount), or undefined if it can. */
export function rootProblem(uid: number | undefined = process.getuid?.()): string | undefined {
  if (uid === undefined) return 'this platform has no user ids: the demo needs Linux and root';
  if (uid !== 0) {
    return (
      `the demo needs root: it creates loop devices that stand for EBS volumes, formats and mounts them ` +
      `(running as uid ${uid}). Run it as root, e.g. \`sudo npm run demo\`.`
    );
  }
  return undefined;
}
