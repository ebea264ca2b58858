/**
 * `npm run bench -- iam [--verbose]`: every call berth's handlers make, judged against the policies
 * `cdk synth` produces for their roles, and whether each Allow statement is needed.
 *
 * 1. Runs a representative set of flows through the handlers (test/helpers/handlers.ts) on the
 *    local cloud with the synthesized policies: launch with a set and as a spare, terminate with a
 *    spare promoted, grow by a device, grow refused by the host, grow within the cooldown, grow by
 *    expansion, reconcile healing a half-attached set, reconcile repairing alarms, reconcile reaping
 *    orphaned and abandoned volumes, a scratch group (launch with a scratch volume, grow it), and
 *    sets and growth under customer managed keys (the KMS use EBS makes for each role).
 *    `denied` must be 0.
 * 2. Mutants: for each Allow statement of each function role, the statement is removed and the
 *    flows are run again; the mutant is killed when some flow is denied. Only the flows in which
 *    the statement let a call through are re-run: a flow in which it matched nothing runs
 *    identically without it (the flows are deterministic).
 *
 * Statements for what the Lambda service itself does with the role (its log group, the
 * dead-letter queue) are outside the local cloud: listed as `notJudged`, not mutated.
 *
 * Prints one JSON line `{"bench":"iam","calls":…,"denied":…,"statements":…,"mutants":…,
 * "mutantsKilled":…,"unusedStatements":[…],…}`.
 */
import type { CloudFixture, FixtureOptions } from '../helpers/cloud-fixture';
import { allowingStatements, type PolicyStatement } from '../../local-cloud/src/iam';
import { benchArgs } from './args';
import { useLocalCloudEnv } from './local-env';

type Fixtures = typeof import('../helpers/cloud-fixture');
type Handlers = typeof import('../helpers/handlers');
type Grow = typeof import('../lambdas/grow/grow-fixture');
type Ec2 = typeof import('@aws-sdk/client-ec2');
type Cw = typeof import('@aws-sdk/client-cloudwatch');

interface Modules {
  fixtures: Fixtures;
  h: Handlers;
  grow: Grow;
  ec2: Ec2;
  cw: Cw;
  alarmNames: typeof import('../../lambdas/shared/alarm-names');
  alarms: typeof import('../../lambdas/aws/alarms');
  attachments: typeof import('../../lambdas/aws/attachments');
}

async function load(): Promise<Modules> {
  useLocalCloudEnv();
  return {
    fixtures: await import('../helpers/cloud-fixture'),
    h: await import('../helpers/handlers'),
    grow: await import('../lambdas/grow/grow-fixture'),
    ec2: await import('@aws-sdk/client-ec2'),
    cw: await import('@aws-sdk/client-cloudwatch'),
    alarmNames: await import('../../lambdas/shared/alarm-names'),
    alarms: await import('../../lambdas/aws/alarms'),
    attachments: await import('../../lambdas/aws/attachments'),
  };
}

/** A statement removed from a role for one run. */
interface Mutation {
  role: string;
  sid: string;
}

/** What one flow run saw. */
interface FlowRun {
  calls: number;
  denied: number;
  deniedCalls: string[];
  /** `role:sid` of every statement that let some call through. */
  used: Set<string>;
}

type Flow = (world: FlowWorld) => Promise<void>;

/** Builds fixtures with the mutation applied and collects the judgements of their clouds. */
class FlowWorld {
  readonly fixtures: CloudFixture[] = [];
  private restores: (() => void)[] = [];

  constructor(
    readonly m: Modules,
    private readonly mutation: Mutation | undefined,
  ) {}

  fixture(options: FixtureOptions = {}): CloudFixture {
    return this.adopt(new this.m.fixtures.CloudFixture(options));
  }

  growth(
    growth: Parameters<Grow['growthFixture']>[0] = {},
    options: Parameters<Grow['growthFixture']>[1] = {},
  ) {
    return this.adopt(this.m.grow.growthFixture(growth, options));
  }

  private adopt(fx: CloudFixture): CloudFixture {
    fx.cloud.authorizer.keepLog = true;
    if (this.mutation) {
      const principal = fx.cloud.authorizer.principals.get(this.mutation.role);
      if (principal) {
        fx.cloud.authorizer.setPrincipal(this.mutation.role, {
          ...principal,
          statements: principal.statements.filter((s) => s.Sid !== this.mutation?.sid),
        });
      }
    }
    this.restores.push(fx.plugHandlers());
    this.fixtures.push(fx);
    return fx;
  }

  close(): FlowRun {
    for (const restore of this.restores.reverse()) restore();
    const run: FlowRun = { calls: 0, denied: 0, deniedCalls: [], used: new Set() };
    for (const fx of this.fixtures) {
      const authorizer = fx.cloud.authorizer;
      run.calls += authorizer.calls;
      run.denied += authorizer.denied;
      for (const j of authorizer.log) {
        if (!j.allowed) run.deniedCalls.push(`${j.principal} ${j.call}`);
        const statements = authorizer.principals.get(j.principal)?.statements ?? [];
        for (const request of j.requests)
          for (const i of allowingStatements(statements, request))
            run.used.add(`${j.principal}:${statements[i]?.Sid ?? `#${i}`}`);
      }
    }
    return run;
  }
}

/** Customer managed keys of the keys flow (the fixtures' account and Region). */
const KEYS = {
  sets: 'arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab',
  growth: 'arn:aws:kms:eu-west-1:111111111111:key/mrk-1234abcd12ab34cd56ef1234567890ab',
};

/** The flows, by name. Each drives the handlers; setup steps use the test's own (unjudged) clients. */
function flows(m: Modules): Record<string, Flow> {
  const { h, grow } = m;
  const launchAll = async (fx: CloudFixture, n: number) => {
    const ids = fx.launch(n);
    for (const e of fx.launchEvents()) await h.launch(e);
    return ids;
  };
  return {
    'launch with a set, then as a spare': async (w) => {
      const fx = w.fixture({ sets: 1, volumesPerSet: 2, settings: { whenNoSetFree: 'spare' } });
      await launchAll(fx, 2);
    },
    'terminate a node; its set goes to the spare': async (w) => {
      const fx = w.growth({}, { sets: 1, settings: { whenNoSetFree: 'spare' } });
      const ids = await launchAll(fx, 2);
      const node = ids.find((id) => fx.cloud.ec2.instance(id)?.tags.NodeID) ?? '';
      fx.cloud.autoscaling.terminateInstance(node, { decrementCapacity: true });
      await h.terminate(fx.takeEvent(m.fixtures.TERMINATE_EVENT, node));
    },
    'grow by a device (launch-made alarm)': async (w) => {
      const fx = w.growth({}, { sets: 1 });
      const [id = ''] = await launchAll(fx, 1);
      await h.grow(await grow.alarmFires(fx, id));
    },
    'grow refused by the host (tagged refused, deleted)': async (w) => {
      const fx = w.growth({}, { sets: 1 });
      const [id = ''] = await launchAll(fx, 1);
      fx.cloud.ssm.recorder.respond('grow-filesystem.sh', {
        exitCode: 3,
        stdout: '{"ok":false,"action":"grow-filesystem","code":"refused","error":"not blank"}\n',
      });
      await h.grow(await grow.alarmFires(fx, id)).catch(() => undefined);
    },
    'grow twice within the cooldown (alarm re-armed)': async (w) => {
      const fx = w.growth({ cooldownSeconds: 600 }, { sets: 1 });
      const [id = ''] = await launchAll(fx, 1);
      await h.grow(await grow.alarmFires(fx, id));
      fx.cloud.clock.advance(120_000);
      await h.grow(await grow.alarmFires(fx, id));
    },
    'grow by expansion (ModifyVolume)': async (w) => {
      const fx = w.growth(
        { strategy: 'expand', cooldownSeconds: 0 },
        { sets: 1, settings: { filesystem: 'xfs' } },
      );
      const [id = ''] = await launchAll(fx, 1);
      await h.grow(await grow.alarmFires(fx, id));
    },
    'reconcile heals a half-attached set': async (w) => {
      const fx = w.fixture({ sets: 1 });
      const [id = ''] = await launchAll(fx, 1);
      const eni = fx.cloud.ec2.networkInterface(fx.sets[0]?.networkInterfaceId ?? '');
      await fx.clients.ec2.send(
        new m.ec2.DetachNetworkInterfaceCommand({ AttachmentId: eni?.attachment?.attachmentId }),
      );
      await fx.cloud.clock.sleep(10_000);
      await h.reconcile({});
      if (fx.cloud.ec2.networkInterface(eni?.networkInterfaceId ?? '')?.attachment?.instanceId !== id)
        throw new Error('reconcile did not heal the set');
    },
    'reconcile repairs alarms (missing, stale)': async (w) => {
      const fx = w.growth({}, { sets: 1 });
      const [id = ''] = await launchAll(fx, 1);
      await fx.clients.cloudWatch.send(
        new m.cw.DeleteAlarmsCommand({ AlarmNames: [m.alarmNames.alarmName(fx.settings, id)] }),
      );
      await m.alarms.ensureAlarm(fx.deps(), 'i-0000000000000dead');
      await h.reconcile({});
    },
    'reconcile reaps orphaned and abandoned volumes': async (w) => {
      const fx = w.growth({ scratch: { enabled: true, forSpares: true, sizeGiB: 20 } }, { sets: 1 });
      const [id = ''] = await launchAll(fx, 1);
      const owner = { 'berth:group': fx.groupName };
      fx.cloud.ec2.seedVolume({
        availabilityZone: 'eu-west-1a',
        tags: { ...owner, 'berth:instance': 'i-0000000000000dead' },
      });
      fx.cloud.ec2.seedVolume({
        availabilityZone: 'eu-west-1a',
        tags: {
          ...owner,
          'berth:instance': id,
          'berth:grow-state': 'pending',
          NodeID: fx.sets[0]?.nodeId ?? '',
          'berth:ordinal': '1',
          Service: 'etcd',
        },
      });
      fx.cloud.clock.advance(3600_000);
      await h.reconcile({});
    },
    'reconcile promotes a spare onto a set that became free': async (w) => {
      const fx = w.fixture({ sets: 1, settings: { whenNoSetFree: 'spare' } });
      await launchAll(fx, 2);
      fx.seedSet();
      await h.reconcile({});
    },
    'reconcile settles stale joining volumes (joined; refused: detached, deleted), in a set and a scratch group':
      async (w) => {
        for (const [group, answer] of [
          ['set', 'joined'],
          ['scratch', 'joined'],
          ['scratch', 'refused'],
        ] as const) {
          const fx =
            group === 'set'
              ? w.growth({}, { sets: 1 })
              : w.growth({ scratch: { enabled: true, forSpares: true, sizeGiB: 20 } }, { sets: 0 });
          const { instanceId } =
            group === 'set' ? await grow.nodeWithSet(fx) : await grow.scratchInstance(fx);
          const setTags =
            group === 'set'
              ? { ...fx.setTags(fx.sets[0]?.nodeId ?? ''), [fx.settings.ordinalTagKey]: '1' }
              : {};
          const deps = fx.deps();
          const volumeId = fx.cloud.ec2.seedVolume({
            availabilityZone: 'eu-west-1a',
            tags: {
              ...setTags,
              'berth:group': fx.groupName,
              'berth:instance': instanceId,
              'berth:grow-state': 'joining',
            },
          });
          await m.attachments.attachVolume(deps, volumeId, instanceId, '/dev/sdp');
          await m.attachments.waitForVolume(deps, volumeId, m.attachments.volumeAttachedTo(instanceId));
          fx.cloud.clock.advance(3600_000);
          if (answer === 'refused')
            fx.cloud.ssm.recorder.respond('grow-filesystem.sh', {
              exitCode: 3,
              stdout:
                '{"ok":false,"action":"grow-filesystem","code":"refused","joined":false,"error":"not blank"}\n',
            });
          await h.reconcile({});
        }
      },
    'scratch group: attaching the scratch volume fails, it is discarded': async (w) => {
      const fx = w.growth({ scratch: { enabled: true, forSpares: true, sizeGiB: 20 } }, { sets: 0 });
      fx.cloud.faults.failNext('ModifyInstanceAttribute', 'InvalidParameterValue', { service: 'ec2' });
      await launchAll(fx, 1);
    },
    'customer managed keys: launch, grow, promote on terminate and in reconcile': async (w) => {
      // The sets' volumes under one key (kmsKeys), grown volumes under growth's own.
      const fx = w.growth(
        { kmsKeyId: KEYS.growth },
        { sets: 0, kmsKeys: [KEYS.sets], settings: { whenNoSetFree: 'spare' } },
      );
      fx.seedSet({ kmsKeyId: KEYS.sets });
      const ids = await launchAll(fx, 3);
      const node = ids.find((id) => fx.cloud.ec2.instance(id)?.tags.NodeID) ?? '';
      await h.grow(await grow.alarmFires(fx, node));
      fx.cloud.autoscaling.terminateInstance(node, { decrementCapacity: true });
      await h.terminate(fx.takeEvent(m.fixtures.TERMINATE_EVENT, node));
      fx.seedSet({ kmsKeyId: KEYS.sets });
      await h.reconcile({});
    },
    'scratch group: a spare gets a scratch volume, then grows it': async (w) => {
      const fx = w.growth({ scratch: { enabled: true, forSpares: true, sizeGiB: 20 } }, { sets: 0 });
      const [id = ''] = await launchAll(fx, 1);
      await h.grow(await grow.alarmFires(fx, id));
    },
  };
}

async function runFlow(m: Modules, flow: Flow, mutation?: Mutation): Promise<FlowRun> {
  const world = new FlowWorld(m, mutation);
  try {
    await flow(world);
  } catch {
    // A denied call may surface as a thrown error; the judgements say whether it was IAM.
  }
  return world.close();
}

export async function run(args: string[]): Promise<void> {
  const options = benchArgs(args, {
    bench: 'iam',
    summary: 'every flow under the synthesized policies, then each statement removed in turn (mutants)',
    options: { verbose: { type: 'flag', description: 'print each flow and mutant on stderr' } },
  });
  if (!options) return;
  const { verbose } = options;
  const started = Date.now();
  const m = await load();
  const all = flows(m);

  // 1. Every flow under the synthesized policies.
  const baseline = new Map<string, FlowRun>();
  let calls = 0;
  let denied = 0;
  const deniedCalls: string[] = [];
  for (const [name, flow] of Object.entries(all)) {
    const r = await runFlow(m, flow);
    baseline.set(name, r);
    calls += r.calls;
    denied += r.denied;
    deniedCalls.push(...r.deniedCalls.map((c) => `${name}: ${c}`));
    if (verbose) console.error(`${name}: ${r.calls} calls, ${r.denied} denied`);
  }

  // 2. The statements of every role the flows use, from the synthesized templates they loaded.
  const statements = new Map<string, PolicyStatement>();
  const notJudged = new Set<string>();
  const probe = new FlowWorld(m, undefined);
  probe.growth({ scratch: { enabled: true, forSpares: true, sizeGiB: 20 } }, { sets: 0 });
  probe.fixture({ sets: 0 });
  probe.growth({ kmsKeyId: KEYS.growth }, { sets: 0, kmsKeys: [KEYS.sets] });
  for (const fx of probe.fixtures) {
    for (const [role, p] of fx.cloud.authorizer.principals) {
      if (role === 'node') continue; // the hosts' role: tested on its own (local-cloud/test/iam.test.ts)
      p.statements.forEach((s, i) => {
        if (s.Effect !== 'Allow') return;
        const key = `${role}:${s.Sid ?? `#${i}`}`;
        const actions = ([] as string[]).concat(s.Action ?? []);
        // What the Lambda service does with the role (logs, dead-letter queue): not a berth call.
        if (actions.every((a) => /^(logs|sqs):/.test(a))) notJudged.add(key);
        else statements.set(key, s);
      });
    }
  }
  probe.close();

  // 3. Mutants: re-run the flows that used the statement, until one is denied.
  let killed = 0;
  const unused: string[] = [];
  for (const key of statements.keys()) {
    const [role = '', sid = ''] = key.split(':');
    let dead = false;
    for (const [name, flow] of Object.entries(all)) {
      if (!baseline.get(name)?.used.has(key)) continue;
      const r = await runFlow(m, flow, { role, sid });
      if (r.denied > 0) {
        dead = true;
        if (verbose) console.error(`${key} killed by "${name}" (${r.deniedCalls[0]})`);
        break;
      }
    }
    if (dead) killed++;
    else unused.push(key);
  }

  console.log(
    JSON.stringify({
      bench: 'iam',
      calls,
      denied,
      statements: statements.size,
      mutants: statements.size,
      mutantsKilled: killed,
      unusedStatements: unused,
      flows: Object.keys(all).length,
      notJudged: [...notJudged].sort(),
      ...(deniedCalls.length ? { deniedCalls } : {}),
      seconds: Math.round((Date.now() - started) / 1000),
    }),
  );
}
