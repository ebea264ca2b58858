/** The Auto Scaling model's records and the shapes its seeding API takes. */
import { createHash } from 'node:crypto';

export type Transition = 'autoscaling:EC2_INSTANCE_LAUNCHING' | 'autoscaling:EC2_INSTANCE_TERMINATING';

export type LifecycleResult = 'CONTINUE' | 'ABANDON';

export type LifecycleState =
  | 'Pending'
  | 'Pending:Wait'
  | 'Pending:Proceed'
  | 'InService'
  | 'Terminating'
  | 'Terminating:Wait'
  | 'Terminating:Proceed'
  | 'Terminated';

export interface HookOptions {
  name: string;
  transition: Transition;
  /** Seconds, 30–7200. @default 3600 */
  heartbeatTimeout?: number;
  /** Alias of `heartbeatTimeout`. */
  heartbeatTimeoutSeconds?: number;
  /** @default 'ABANDON' */
  defaultResult?: LifecycleResult;
  notificationMetadata?: string;
}

export interface GroupOptions {
  name: string;
  subnetIds: string[];
  desired: number;
  /** @default 0 */
  min?: number;
  /** @default max(desired, 10) */
  max?: number;
  /** @default 'm5.large' */
  instanceType?: string;
  /** Group tags, propagated at launch. */
  tags?: Record<string, string>;
  /** Extra tags on every instance launched (not group tags). */
  launchTags?: Record<string, string>;
  hooks?: HookOptions[];
}

export interface Hook {
  name: string;
  transition: Transition;
  heartbeatTimeout: number;
  defaultResult: LifecycleResult;
  notificationMetadata?: string;
  notificationTargetArn?: string;
  roleArn?: string;
}

export interface Group {
  name: string;
  arn: string;
  subnetIds: string[];
  min: number;
  max: number;
  desired: number;
  instanceType: string;
  tags: Record<string, string>;
  launchTags: Record<string, string>;
  hooks: Map<string, Hook>;
  createdAt: number;
}

export interface Member {
  instanceId: string;
  group: string;
  availabilityZone: string;
  instanceType: string;
  state: LifecycleState;
  health: 'Healthy' | 'Unhealthy';
  launchedAt: number;
  /** The launch was abandoned (the instance is terminated and replaced). */
  abandoned?: boolean;
}

export interface LifecycleAction {
  token: string;
  instanceId: string;
  group: string;
  hook: string;
  transition: Transition;
  startedAt: number;
  /** When the heartbeat timeout expires (restarted by RecordLifecycleActionHeartbeat). */
  deadline: number;
  /** min(48 h, 100 × heartbeat timeout) after the start. */
  globalDeadline: number;
  defaultResult: LifecycleResult;
  result?: LifecycleResult;
  endedAt?: number;
  timedOut?: boolean;
}

export const MAX_GLOBAL_TIMEOUT_S = 48 * 3600;

export const TRANSITIONS: Transition[] = [
  'autoscaling:EC2_INSTANCE_LAUNCHING',
  'autoscaling:EC2_INSTANCE_TERMINATING',
];

/** "The maximum amount of time that you can keep an instance in a wait state is 48 hours or 100
 * times the heartbeat timeout, whichever is smaller." */
export function globalTimeoutSeconds(heartbeatTimeout: number): number {
  return Math.min(MAX_GLOBAL_TIMEOUT_S, 100 * heartbeatTimeout);
}

/** A UUID-shaped id derived from a seed (deterministic, unguessable enough for a test double). */
export function uuid(seed: string): string {
  const h = createHash('sha256').update(seed).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
