/** The SSM model's records, the shapes its seeding API takes, and what it reads of the EC2 model. */
import type { ExecResult } from '../executors';
import type { LocalCloud } from '../index';

/** What the SSM and Auto Scaling models use of the EC2 model (local-cloud/src/ec2/). */
export interface Ec2View {
  instance(id: string):
    | {
        instanceId: string;
        state: string;
        availabilityZone: string;
        subnetId?: string;
        privateIp?: string;
        launchTime?: Date | number | string;
      }
    | undefined;
  runInstance(options: {
    subnetId: string;
    instanceType?: string;
    tags?: Record<string, string>;
    privateIp?: string;
  }): string;
  terminateInstance(instanceId: string): void;
  instances?(): { instanceId: string }[];
  timing?: { instanceBootMs?: number };
}

export function ec2View(cloud: LocalCloud): Ec2View {
  return cloud.ec2 as unknown as Ec2View;
}

/** A parameter of a Command document. */
export interface DocumentParameter {
  allowedPattern?: string;
  default?: string;
  description?: string;
}

export interface DocumentOptions {
  /** Path of the script the document runs (an agent-scripts/*.sh file). */
  scriptFile: string;
  parameters?: Record<string, DocumentParameter>;
  /** aws:runShellScript `timeoutSeconds`: the execution timeout. @default 3600 */
  executionTimeoutSeconds?: number;
  /** The document's content as created (a synthesized template's); else one is made up. */
  content?: string;
}

export interface Document {
  name: string;
  scriptFile: string;
  /** Shell of a document created through the API (no script file). */
  script?: string;
  parameters: Record<string, DocumentParameter>;
  executionTimeoutSeconds: number;
  content: string;
  created: number;
}

export interface Invocation {
  commandId: string;
  instanceId: string;
  documentName: string;
  comment: string;
  requestedAt: number;
  /** GetCommandInvocation answers InvocationDoesNotExist before this (eventual consistency). */
  visibleAt: number;
  startAt: number;
  /**
   * When its script got the host lock and began its work (agent scripts only: `hostTurns`);
   * undefined while it waits, and for a run that gave up waiting or runs no agent script.
   */
  ranAt?: number;
  timeoutMs: number;
  result?: ExecResult;
  resolvedAt?: number;
  cancelledAt?: number;
  parameters: Record<string, string>;
}

/** One invocation as the command history shows it (the fault campaign's invariants read it). */
export interface InvocationRecord {
  commandId: string;
  instanceId: string;
  documentName: string;
  parameters: Record<string, string>;
  requestedAt: number;
  /** When the agent picked it up (after `Pending`). */
  startAt: number;
  /** When its script held the host lock and did its work (from `ranAt` to `ranUntil`). */
  ranAt: number | undefined;
  ranUntil: number | undefined;
  /** When it reached its final status; undefined while Pending or InProgress. */
  endAt: number | undefined;
  status: InvocationStatus;
}

/** Faults of one instance's SSM agent (see `SsmModel.agentLate` and the others). */
export interface AgentFault {
  lateMs: number;
  never: boolean;
  offline: { from: number; to: number }[];
}

export interface Command {
  commandId: string;
  documentName: string;
  comment: string;
  parameters: Record<string, string[]>;
  instanceIds: string[];
  requestedAt: number;
  timeoutSeconds: number;
}

export type InvocationStatus = 'Pending' | 'InProgress' | 'Success' | 'Failed' | 'TimedOut' | 'Cancelled';

/** SSM's StandardOutputContent/StandardErrorContent hold the first 24,000 characters. */
export const OUTPUT_LIMIT = 24_000;

/** ListCommandInvocations' CommandPlugins[].Output holds the first 2,500 characters. */
export const PLUGIN_OUTPUT_LIMIT = 2_500;

export function toMs(value: Date | number | string): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'string') return Date.parse(value);
  return value.getTime();
}
