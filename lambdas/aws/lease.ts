/**
 * A lease in SSM Parameter Store: the mutual exclusion that keeps two runs (two deliveries of one
 * event, a retried invocation, the reconciler) from sending the same document to one instance at
 * once (issue 13). Parameter Store offers a conditional create: PutParameter without `Overwrite`
 * fails with `ParameterAlreadyExists` when the name exists (PutParameter API reference, Errors), so
 * exactly one run creates the lease. The value records the owner, when it was taken and when it
 * expires. An expired lease is taken over with `Overwrite`, and the returned `Version` tells who
 * won: only the run whose write made it version n+1 of the version n it read owns it.
 *
 * The lease covers the decision to send (SEND_WINDOW_MS), not the command's run: once sent, the
 * command itself (ListCommandInvocations, requested after the lease was taken) is the record that
 * another run adopts instead of sending. The run that holds the lease deletes it once it sees the
 * command end (DeleteParameter); a lease whose holder died expires, and the next run takes it over;
 * the terminate flow deletes what is left
 * (`releaseLease` from lifecycle.ts), so leases do not accumulate towards the Standard tier's
 * 10,000 parameters per account and Region ("Parameter Store quotas", Systems Manager endpoints
 * and quotas, General Reference).
 */
import { randomUUID } from 'node:crypto';
import { DeleteParameterCommand, GetParameterCommand, PutParameterCommand } from '@aws-sdk/client-ssm';
import { retrying } from './attachments';
import type { Deps } from '../shared/deps';
import { classify, errorName } from '../shared/errors';

/**
 * How long a lease protects the step from "taken" to "SendCommand answered": the agent is Online
 * before the lease is taken, so this bounds one SendCommand and its retries. A run killed inside
 * the window delays the retry by at most this much.
 */
export const SEND_WINDOW_MS = 60_000;

export interface LeaseValue {
  owner: string;
  /** Epoch ms the lease was taken: a command requested since then is its holder's. */
  acquiredAt: number;
  expiresAt: number;
}

export type LeaseAttempt =
  | { held: true; lease: LeaseValue; name: string; tookOver?: LeaseValue }
  | { held: false; current: LeaseValue; name: string };

type LeaseDeps = Pick<Deps, 'ssm' | 'clock'>;

/** One owner id per process and lease attempt. */
const processId = randomUUID();
let seq = 0;

function parse(value: string | undefined): LeaseValue | undefined {
  try {
    const v = JSON.parse(value ?? '') as Partial<LeaseValue>;
    if (typeof v.owner === 'string' && typeof v.acquiredAt === 'number' && typeof v.expiresAt === 'number')
      return { owner: v.owner, acquiredAt: v.acquiredAt, expiresAt: v.expiresAt };
  } catch {
    // A value berth did not write: treated as expired (taken over).
  }
  return undefined;
}

async function put(deps: LeaseDeps, name: string, value: LeaseValue, overwrite: boolean) {
  return retrying(deps, () =>
    deps.ssm.send(
      new PutParameterCommand({
        Name: name,
        Value: JSON.stringify(value),
        Type: 'String',
        ...(overwrite ? { Overwrite: true } : {}),
        Description: 'berth host-step lease (deleted when the step ends)',
      }),
    ),
  );
}

/**
 * Takes the lease `name` if it is free or expired; otherwise returns who holds it. Never waits.
 */
export async function acquireLease(deps: LeaseDeps, name: string): Promise<LeaseAttempt> {
  for (let attempt = 0; ; attempt++) {
    const now = deps.clock.now();
    const mine: LeaseValue = {
      owner: `${processId}#${++seq}`,
      acquiredAt: now,
      expiresAt: now + SEND_WINDOW_MS,
    };
    try {
      await put(deps, name, mine, false);
      return { held: true, lease: mine, name };
    } catch (error) {
      if (errorName(error) !== 'ParameterAlreadyExists') throw classify(error, `PutParameter ${name}`);
    }
    let read;
    try {
      read = await retrying(deps, () => deps.ssm.send(new GetParameterCommand({ Name: name })));
    } catch (error) {
      // Released between our create and our read: try to create it again.
      if (errorName(error) === 'ParameterNotFound' && attempt < 3) continue;
      throw classify(error, `GetParameter ${name}`);
    }
    const current = parse(read.Parameter?.Value) ?? { owner: '?', acquiredAt: 0, expiresAt: 0 };
    // Our own create took effect and its answer was lost (a server error, then the retry found it).
    if (current.owner === mine.owner) return { held: true, lease: mine, name };
    if (current.expiresAt > deps.clock.now()) return { held: false, current, name };
    // Expired: take it over. Parameter Store orders writes to one parameter; the write that made
    // the version we read + 1 is the only one that may own it. The step starts again under the
    // new holder, which adopts a command of the gone holder only while it still runs.
    const version = read.Parameter?.Version ?? 0;
    const taken = await put(deps, name, mine, true);
    if (taken.Version === version + 1) return { held: true, lease: mine, name, tookOver: current };
    // Another run took it over at the same time and won: its command, if any, is requested from now.
    return { held: false, current: { ...mine, owner: '?' }, name };
  }
}

/**
 * Deletes the lease (the step ended, or nothing was sent). Already gone counts as released. With
 * `owner`, only while the lease is still that owner's: a lease taken over after it expired belongs
 * to the taker, which releases it itself. Parameter Store has no conditional delete, so the owner is
 * read again before every attempt of the delete: a delete retried after throttling without that
 * read removed a lease taken in between. Without `owner` (the terminate flow, the instance going
 * away), it deletes whatever is there.
 */
export async function releaseLease(deps: LeaseDeps, name: string, owner?: string): Promise<void> {
  try {
    await retrying(deps, async () => {
      if (owner !== undefined) {
        const read = await deps.ssm.send(new GetParameterCommand({ Name: name }));
        if (parse(read.Parameter?.Value)?.owner !== owner) return;
      }
      await deps.ssm.send(new DeleteParameterCommand({ Name: name }));
    });
  } catch (error) {
    if (errorName(error) === 'ParameterNotFound') return;
    throw classify(error, `DeleteParameter ${name}`);
  }
}
