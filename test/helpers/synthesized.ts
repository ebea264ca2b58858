/**
 * What `cdk synth` produces for one group, as the local cloud needs it: the identity policy of
 * every function's role and of the node role, and the SSM documents. Read from the template of the
 * real StatefulNodeGroup (infra/stateful-node-group.ts), never from a copy.
 *
 * Speed: the synthesis skips Lambda bundling (CDK's standard context `aws:cdk:bundling-stacks: []`;
 * the policies and documents do not depend on the bundle) and its result is cached on disk, keyed
 * by a hash of the sources that shape it (infra/, lambdas/shared/, lambdas/grow/, agent-scripts/ with include/)
 * and of the settings.
 */
import { App, Stack } from 'aws-cdk-lib';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as iam from 'aws-cdk-lib/aws-iam';
import { createHash } from 'node:crypto';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GroupSettingsInput, Settings } from '../../lambdas/shared/config';
import type { HandlerName } from '../../infra/lambda-bundling';
import { StatefulNodeGroup } from '../../infra/stateful-node-group';
import type { PolicyStatement } from '../../local-cloud/src/iam';

const ROOT = join(__dirname, '..', '..');

/** The principals whose policies the local cloud evaluates: the four functions and the hosts. */
export type RoleName = HandlerName | 'node';

export interface SynthesizedRole {
  /** The role's logical id in the template (names the principal in AccessDenied messages). */
  logicalId: string;
  statements: PolicyStatement[];
  managedPolicyArns: string[];
}

/** A Command or Automation document as the template holds it. */
export interface SynthesizedDocument {
  name: string;
  documentType: string;
  content: {
    schemaVersion: string;
    parameters?: Record<string, { type: string; allowedPattern?: string; default?: string }>;
    mainSteps: { action: string; name: string; inputs: Record<string, unknown> }[];
  };
}

export interface SynthesizedGroup {
  account: string;
  region: string;
  roles: Partial<Record<RoleName, SynthesizedRole>>;
  documents: SynthesizedDocument[];
  /** Wall-clock milliseconds the synthesis took (0 when read from the cache). */
  synthMs: number;
}

/** Construct props beyond the settings that shape the policies. */
export interface GroupProps {
  kmsKeys?: string[];
}

/** The construct props that carry these settings (the inverse of settingsJson). */
function propsOf(settings: Settings): Omit<GroupSettingsInput, 'groupName' | 'documents'> {
  const { parsedFilters: _p, groupName: _g, documents: _d, ...rest } = settings;
  return rest as Omit<GroupSettingsInput, 'groupName' | 'documents'>;
}

function sourceFiles(): string[] {
  const dir = (d: string) =>
    readdirSync(join(ROOT, d))
      .filter((f) => /\.(ts|sh)$/.test(f))
      .sort()
      .map((f) => join(ROOT, d, f));
  // Everything the construct can import from: a change anywhere there synthesizes again.
  return [
    ...dir('infra'),
    ...dir('agent-scripts'),
    ...dir('agent-scripts/include'),
    ...dir('lambdas/shared'),
    ...dir('lambdas/grow'),
  ];
}

function cacheKey(settings: Settings, account: string, region: string, props: GroupProps): string {
  const hash = createHash('sha256');
  for (const file of sourceFiles()) hash.update(file).update(readFileSync(file));
  hash.update(JSON.stringify({ settings: propsOf(settings), group: settings.groupName, account, region }));
  if (Object.keys(props).length > 0) hash.update(JSON.stringify(props));
  return hash.digest('hex').slice(0, 32);
}

const memory = new Map<string, SynthesizedGroup>();

/**
 * The synthesized policies and documents of a StatefulNodeGroup for these settings (group name
 * literal, an imported Auto Scaling group, an instance role). Cached in memory and on disk.
 */
export function synthesizedGroup(
  settings: Settings,
  env: { account: string; region: string } = { account: '111111111111', region: 'eu-west-1' },
  props: GroupProps = {},
): SynthesizedGroup {
  const key = cacheKey(settings, env.account, env.region, props);
  const hit = memory.get(key);
  if (hit) return hit;
  const dir = join(tmpdir(), 'berth-synth-cache');
  const file = join(dir, `${key}.json`);
  try {
    const cached = { ...(JSON.parse(readFileSync(file, 'utf8')) as SynthesizedGroup), synthMs: 0 };
    memory.set(key, cached);
    return cached;
  } catch {
    // not cached yet
  }
  const started = Date.now();
  const group = synthesize(settings, env, props);
  group.synthMs = Date.now() - started;
  mkdirSync(dir, { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(group));
  renameSync(tmp, file);
  memory.set(key, group);
  return group;
}

function synthesize(
  settings: Settings,
  env: { account: string; region: string },
  props: GroupProps,
): SynthesizedGroup {
  const outdir = mkdtempSync(join(tmpdir(), 'berth-iam-synth-'));
  try {
    const app = new App({ outdir, context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new Stack(app, 'BerthPolicies', { env });
    const asg = autoscaling.AutoScalingGroup.fromAutoScalingGroupName(stack, 'Group', settings.groupName);
    const nodeRole = new iam.Role(stack, 'NodeRole', {
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      description: 'berth node',
    });
    new StatefulNodeGroup(stack, 'Berth', {
      ...propsOf(settings),
      ...props,
      autoScalingGroup: asg,
      autoScalingGroupName: settings.groupName,
      instanceRole: nodeRole,
    });
    const template = app.synth().getStackByName(stack.stackName).template as Template;
    return extract(template, env);
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

/** The account and region, and the physical names `Ref` returns for named resources. */
interface Env {
  account: string;
  region: string;
  names: Record<string, string>;
}

interface Template {
  Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }>;
}

/** Resolves the intrinsics of an ARN as CloudFormation would in this account and region. */
function resolve(value: unknown, env: Env): unknown {
  if (Array.isArray(value)) return value.map((v) => resolve(v, env));
  if (value === null || typeof value !== 'object') return value;
  const obj = value as Record<string, unknown>;
  if ('Ref' in obj) {
    const pseudo: Record<string, string> = {
      'AWS::Partition': 'aws',
      'AWS::Region': env.region,
      'AWS::AccountId': env.account,
      'AWS::URLSuffix': 'amazonaws.com',
    };
    return pseudo[obj.Ref as string] ?? env.names[obj.Ref as string] ?? `<Ref ${String(obj.Ref)}>`;
  }
  if ('Fn::Join' in obj) {
    const [sep, parts] = obj['Fn::Join'] as [string, unknown[]];
    return parts.map((p) => String(resolve(p, env))).join(sep);
  }
  if ('Fn::GetAtt' in obj) return `<GetAtt ${([] as unknown[]).concat(obj['Fn::GetAtt']).join('.')}>`;
  return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, resolve(v, env)]));
}

function extract(template: Template, where: { account: string; region: string }): SynthesizedGroup {
  // `Ref` of an SSM parameter or document is its name (CloudFormation reference, Return values).
  const names: Record<string, string> = {};
  for (const [logicalId, r] of Object.entries(template.Resources)) {
    if (
      (r.Type === 'AWS::SSM::Parameter' || r.Type === 'AWS::SSM::Document') &&
      typeof r.Properties?.Name === 'string'
    )
      names[logicalId] = r.Properties.Name;
  }
  const env: Env = { ...where, names };
  const roles: Partial<Record<RoleName, SynthesizedRole>> = {};
  const byLogicalId = new Map<string, SynthesizedRole>();
  for (const [logicalId, r] of Object.entries(template.Resources)) {
    if (r.Type !== 'AWS::IAM::Role') continue;
    const description = String(r.Properties?.Description ?? '');
    const match = /^berth (launch|terminate|grow|reconcile) function$/.exec(description);
    const name: RoleName | undefined = match
      ? (match[1] as HandlerName)
      : description === 'berth node'
        ? 'node'
        : undefined;
    if (!name) continue;
    const role: SynthesizedRole = {
      logicalId,
      statements: [],
      managedPolicyArns: (resolve(r.Properties?.ManagedPolicyArns ?? [], env) as string[]).map(String),
    };
    roles[name] = role;
    byLogicalId.set(logicalId, role);
  }
  for (const r of Object.values(template.Resources)) {
    if (r.Type !== 'AWS::IAM::Policy') continue;
    const doc = resolve(r.Properties?.PolicyDocument, env) as { Statement: PolicyStatement[] };
    for (const ref of (r.Properties?.Roles ?? []) as { Ref?: string }[]) {
      const role = ref.Ref ? byLogicalId.get(ref.Ref) : undefined;
      role?.statements.push(...doc.Statement);
    }
  }
  const documents: SynthesizedDocument[] = [];
  for (const r of Object.values(template.Resources)) {
    if (r.Type !== 'AWS::SSM::Document') continue;
    const p = resolve(r.Properties, env) as { Name: string; DocumentType: string; Content: unknown };
    documents.push({
      name: p.Name,
      documentType: p.DocumentType,
      content: p.Content as SynthesizedDocument['content'],
    });
  }
  return { ...where, roles, documents, synthMs: 0 };
}
