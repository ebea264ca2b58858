import { fail } from '../errors';
import type { HostExecutor } from '../executors';
import type { LocalCloud } from '../index';
import type { AgentFault, Command, Document, Invocation } from './records';

/** What the SSM model's tunables are (the public, mutable fields of SsmModel). */
export interface SsmSettings {
  agentOnlineDelayMs: number;
  deliveryDelayMs: number;
  invocationVisibleDelayMs: number;
  hostLockWaitMs: number;
  executor: HostExecutor;
}

/** One instance's host lock: the last run queued for it, and when the lock is free again. */
export interface HostTurn {
  tail: Promise<void>;
  freeAt: number;
}

/** The state the SSM modules work on: documents, parameters, commands, invocations, agents. */
export class SsmState {
  documents = new Map<string, Document>();
  /** Parameter Store (String parameters, standard tier): name → value and version. */
  parameters = new Map<string, { value: string; version: number; modified: number }>();
  commands = new Map<string, Command>();
  invocations: Invocation[] = [];
  launchedAt = new Map<string, number>();
  commandSeq = 0;
  agentFaults = new Map<string, AgentFault>();
  /** The host lock of each instance (commands.ts). */
  hostTurns = new Map<string, HostTurn>();
  /** Runs in flight (tests can await them with `settled()`). */
  inFlight = new Set<Promise<void>>();

  constructor(
    readonly cloud: LocalCloud,
    readonly settings: SsmSettings,
  ) {}

  document(name: string | undefined): Document {
    const doc = name === undefined ? undefined : this.documents.get(name);
    if (!doc) throw fail('InvalidDocument', `Document ${String(name)} does not exist in your account.`);
    return doc;
  }
}
