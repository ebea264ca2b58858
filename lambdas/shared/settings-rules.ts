/**
 * The rules a group's settings must follow, each failing with ONE line that names the field, the
 * value and the fix (ConfigError): paths, tags (EC2's tag restrictions), KMS key references, the
 * IOPS and throughput of each EBS volume type, the scoping filters.
 */
import { PARAMETER_PATTERNS } from './contract';
import type { ParsedFilter } from './filters';
import type { GrowthSettings, Settings } from './settings-types';

export class ConfigError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'ConfigError';
  }
}

/** One path component: a single character class with one quantifier (linear, no backtracking). */
const PATH_COMPONENT = /^[A-Za-z0-9._@+-]+$/;
export const UNIT = /^[A-Za-z0-9@._:-]+\.(service|target|mount)$/;
export const TAG_KEY = /^(?!aws:)[A-Za-z0-9 _.:/=+\-@]{1,128}$/;
export const GROUP_NAME = /^[A-Za-z0-9._\-:/ ]{1,255}$/;
export const DOC_NAME = /^[A-Za-z0-9_.-]{3,128}$/;

export function check(condition: boolean, field: string, message: string): void {
  if (!condition) throw new ConfigError(field, message);
}

export function int(value: unknown, field: string, min: number, max: number, fix: string): number {
  check(
    typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max,
    field,
    `must be an integer from ${min} to ${max} (got ${JSON.stringify(value)}); ${fix}`,
  );
  return value as number;
}

/**
 * An absolute path of plain components, checked component by component in linear time (the
 * regex it replaces, /^\/(?:[…]+\/?)*$/, backtracked exponentially on a long path ending in a
 * character outside the class). A trailing slash passes here; the documents' pattern refuses it.
 */
export function isPlainAbsolutePath(value: string): boolean {
  if (value.length > 4096 || !value.startsWith('/')) return false;
  const parts = value.slice(1).split('/');
  return parts.every((part, i) =>
    part === '' ? i === parts.length - 1 : PATH_COMPONENT.test(part) && part !== '..',
  );
}

/**
 * Directories a data volume must never be mounted on: the system's own. `EXACT`: the directory
 * itself (a subdirectory such as /var/lib/etcd or /home/kafka is fine); `TREE`: nothing at or below.
 */
const SYSTEM_EXACT = new Set([
  '/',
  '/var',
  '/var/lib',
  '/var/log',
  '/var/cache',
  '/var/spool',
  '/var/tmp',
  '/var/run',
  '/home',
  '/tmp',
  '/opt',
  '/srv',
  '/mnt',
  '/media',
  '/root',
  '/snap',
]);
const SYSTEM_TREE = ['/etc', '/usr', '/boot', '/bin', '/sbin', '/lib', '/proc', '/sys', '/dev', '/run'];

/** The system directory a mount point would shadow, if any (`/lib*` covers /lib64, /libx32, …). */
export function systemDirectoryOf(mountPoint: string): string | undefined {
  const path = mountPoint.length > 1 && mountPoint.endsWith('/') ? mountPoint.slice(0, -1) : mountPoint;
  if (SYSTEM_EXACT.has(path)) return path;
  const top = `/${path.split('/')[1] ?? ''}`;
  if (top.startsWith('/lib')) return top;
  return SYSTEM_TREE.find((dir) => dir === top);
}

/**
 * The environment file's place: what the documents' pattern allows (a `*.env` file at least one
 * directory below /etc, /run, /var/lib, /opt or /srv) and never on the set's filesystem. berth
 * replaces the file as root on every node, so anything else could overwrite a system file; a file
 * inside the mount point would be written under the mount before it exists and hidden after.
 */
export function envFileProblem(envFile: string, mountPoint: string): string | undefined {
  const fix = 'name a *.env file of its own outside the mount point, such as /etc/berth/node.env';
  if (!new RegExp(PARAMETER_PATTERNS.optionalEnvFile).test(envFile))
    return `${JSON.stringify(envFile)} is not a place berth writes as root (a *.env file at least one directory below /etc, /run, /var/lib, /opt or /srv); ${fix}`;
  const mount = mountPoint.endsWith('/') ? mountPoint.slice(0, -1) : mountPoint;
  if (envFile === mount || envFile.startsWith(`${mount}/`))
    return `${JSON.stringify(envFile)} is inside the mount point ${mount} (the set's filesystem); ${fix}`;
  return undefined;
}

export function path(value: unknown, field: string): string {
  check(
    typeof value === 'string' && isPlainAbsolutePath(value),
    field,
    `must be an absolute path without "..", spaces or shell characters (got ${JSON.stringify(value)}); e.g. /data`,
  );
  return value as string;
}

export function oneOf<T extends string>(value: unknown, field: string, allowed: readonly T[]): T {
  check(
    typeof value === 'string' && (allowed as readonly string[]).includes(value),
    field,
    `must be one of ${allowed.join(', ')} (got ${JSON.stringify(value)})`,
  );
  return value as T;
}

/**
 * EC2's tag restrictions (Amazon EC2 User Guide, "Tag your Amazon EC2 resources" > "Tag
 * restrictions"): keys of 1–128 and values of 0–256 Unicode characters; letters, numbers, spaces
 * and + - = . _ : / @; no `aws:` prefix (any case) on keys or values. A value may not hold the EC2
 * filter wildcards * and ?, which would widen the group's scope to tags it does not own.
 */
const TAG_CHARACTERS = /^[\p{L}\p{N}\p{Zs}+\-=._:/@]*$/u;

export function tagProblem(text: string, kind: 'key' | 'value'): string | undefined {
  const max = kind === 'key' ? 128 : 256;
  const length = [...text].length;
  if (kind === 'key' && length === 0) return 'is empty';
  if (length > max) return `is longer than EC2's ${max} characters`;
  if (text.toLowerCase().startsWith('aws:')) return 'starts with "aws:", which EC2 reserves';
  if (/[*?]/.test(text)) return 'holds a wildcard (* or ?); name the exact tag value';
  if (!TAG_CHARACTERS.test(text))
    return 'holds a character EC2 tags refuse (allowed: letters, digits, spaces and + - = . _ : / @)';
  return undefined;
}

export function checkFilterTags(filters: readonly ParsedFilter[]): void {
  for (const filter of filters) {
    const isTag = filter.name.startsWith('tag:');
    if (!isTag && filter.name !== 'tag-key') continue;
    if (isTag) {
      const key = filter.name.slice(4);
      const problem = tagProblem(key, 'key');
      if (problem) throw new ConfigError('filters', `tag key ${JSON.stringify(key)} ${problem}`);
    }
    for (const value of filter.values) {
      const problem = tagProblem(value, isTag ? 'value' : 'key');
      if (problem) {
        throw new ConfigError(
          'filters',
          isTag
            ? `the value ${JSON.stringify(value)} of tag ${filter.name.slice(4)} ${problem}`
            : `tag-key ${JSON.stringify(value)} ${problem}`,
        );
      }
    }
  }
}

/**
 * The filters must name at least one tag value (`Key=Value`): without one, the roles may attach any
 * NodeID-tagged volume and ENI of the region, and two clusters take each other's sets. Checked at
 * synth, where the roles are scoped (a scratch group, with no sets, needs none).
 */
export function checkScopingFilters(
  settings: Pick<Settings, 'filters' | 'parsedFilters' | 'nodeSets'>,
): void {
  if (!settings.nodeSets) return;
  check(
    settings.parsedFilters.some((f) => f.name.startsWith('tag:')),
    'filters',
    `${JSON.stringify(settings.filters)} names no tag value; give at least one Key=Value (e.g. "Env=prod,Service=etcd") so that only this cluster's volumes and ENIs can be attached`,
  );
}

/**
 * An EBS KMS key as CreateVolume's KmsKeyId takes it (EC2 API Reference, CreateVolume): key id,
 * multi-Region key id, alias, key ARN or alias ARN. Each pattern has single quantifiers only.
 */
const KMS_KEY_ID = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$/;
const KMS_ALIAS = /^alias\/[A-Za-z0-9/_-]{1,250}$/;
const KMS_ARN = /^arn:aws[a-z-]{0,20}:kms:[a-z0-9-]{1,30}:[0-9]{12}:(key|alias)\/([A-Za-z0-9/_-]{1,250})$/;

export function isKmsKeyReference(value: string): boolean {
  if (KMS_KEY_ID.test(value) || KMS_ALIAS.test(value)) return true;
  const arn = KMS_ARN.exec(value);
  if (!arn) return false;
  return arn[1] === 'alias' || KMS_KEY_ID.test(arn[2] ?? '');
}

/** An alias name or alias ARN (what names an alias, not a key, in an IAM policy's Resource). */
export function isKmsAlias(value: string): boolean {
  return KMS_ALIAS.test(value) || KMS_ARN.exec(value)?.[1] === 'alias';
}

/** A key ARN (`arn:<partition>:kms:<region>:<account>:key/<key id>`). */
export function isKmsKeyArn(value: string): boolean {
  const arn = KMS_ARN.exec(value);
  return arn?.[1] === 'key' && KMS_KEY_ID.test(arn[2] ?? '');
}

/** A KMS key ARN, as the examples of every KMS message give it. */
export const KMS_KEY_ARN_EXAMPLE =
  'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';

/**
 * Why an alias cannot stand for a key in berth's IAM statements: an alias ARN in a policy's
 * Resource matches the alias, not the key behind it (KMS Developer Guide, "Use aliases to control
 * access to KMS keys"), and EBS calls KMS on the key. One sentence, shared by every prop that takes a key.
 */
export function kmsAliasProblem(value: string): string {
  return `${JSON.stringify(value)} is an alias; an IAM policy naming an alias matches the alias, not its key, so EBS could not use the key for berth's functions: give the key ARN (e.g. ${KMS_KEY_ARN_EXAMPLE}; aws kms describe-key --key-id ${value} prints it)`;
}

/**
 * IOPS and throughput per EBS volume type (Amazon EBS User Guide, "Amazon EBS volume types"; EC2
 * API Reference, CreateVolume `Iops` and `Throughput`, current figures, the same the local cloud
 * enforces in local-cloud/src/ec2/): gp3 3,000–80,000 IOPS and 125–2,000 MiB/s (older
 * references say 16,000 and 1,000); io1 100–64,000 IOPS; io2 100–256,000 IOPS; io1 and io2 require
 * IOPS; gp2, st1 and sc1 take neither.
 */
export const VOLUME_PERFORMANCE: Record<
  GrowthSettings['volumeType'],
  { iops?: { min: number; max: number; required: boolean }; throughput?: { min: number; max: number } }
> = {
  gp3: { iops: { min: 3000, max: 80000, required: false }, throughput: { min: 125, max: 2000 } },
  io1: { iops: { min: 100, max: 64000, required: true } },
  io2: { iops: { min: 100, max: 256000, required: true } },
  gp2: {},
  st1: {},
  sc1: {},
};
