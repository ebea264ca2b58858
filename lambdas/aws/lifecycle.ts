/**
 * Lifecycle action helpers: complete (CONTINUE/ABANDON), heartbeat, and a background heartbeat
 * that keeps the action alive while a long step (attach wait, SSM command) runs.
 */
import {
  CompleteLifecycleActionCommand,
  RecordLifecycleActionHeartbeatCommand,
} from '@aws-sdk/client-auto-scaling';
import { deleteAlarm, ensureAlarm } from './alarms';
import { describeInstance, type InstanceView } from './attachments';
import type { Deps } from '../shared/deps';
import { classify, describeError, errorMessage, errorName } from '../shared/errors';
import { LAUNCHING, type LifecycleAction } from '../shared/events';
import { readWhenVisible } from '../shared/poll';
import {
  inAlarmOnce,
  reapOrphanedVolumes,
  repairAlarms,
  type AlarmRepair,
  type ReapResult,
} from '../shared/growth-reconcile';
import { provisionScratch } from '../shared/scratch';

type AsgDeps = Pick<Deps, 'autoScaling' | 'clock' | 'logger' | 'settings'>;

/** The action is gone: completed already (a duplicate event) or timed out. */
export function isActionGone(error: unknown): boolean {
  return errorName(error) === 'ValidationError' && /no active lifecycle action/i.test(errorMessage(error));
}

/**
 * Completes the lifecycle action. `already-complete` when Auto Scaling no longer has it (a
 * duplicated or retried event); any other error is thrown so that the invocation is retried.
 */
export async function completeAction(
  deps: AsgDeps,
  action: LifecycleAction,
  result: 'CONTINUE' | 'ABANDON',
): Promise<'completed' | 'already-complete'> {
  try {
    await deps.autoScaling.send(
      new CompleteLifecycleActionCommand({
        AutoScalingGroupName: action.groupName,
        LifecycleHookName: action.hookName,
        InstanceId: action.instanceId,
        LifecycleActionToken: action.token,
        LifecycleActionResult: result,
      }),
    );
    deps.logger.info('lifecycle action completed', { result });
    return 'completed';
  } catch (error) {
    if (isActionGone(error)) {
      deps.logger.info('lifecycle action was already complete', { result, error: describeError(error) });
      return 'already-complete';
    }
    throw classify(error, `CompleteLifecycleAction ${result} ${action.instanceId}`);
  }
}

/**
 * DescribeInstances of the action's instance, the first EC2 call of the launch and terminate runs;
 * a launching instance EC2 does not know yet is read again within the consistency window.
 * If it fails (EC2 unavailable in the instance's AZ, say), the run records one heartbeat before it
 * throws: EventBridge retries the run, and the heartbeat keeps the action alive for that retry
 * (Auto Scaling's API is Regional, not the AZ's), so an outage of minutes does not time it out.
 */
export async function describeActionInstance(
  deps: AsgDeps & Parameters<typeof describeInstance>[0],
  action: LifecycleAction,
): Promise<InstanceView | undefined> {
  const read = () => describeInstance(deps, action.instanceId);
  try {
    // Auto Scaling launched it moments ago: EC2 may not see it yet (eventual consistency).
    return action.transition === LAUNCHING
      ? await readWhenVisible(deps, action.instanceId, read)
      : await read();
  } catch (error) {
    await recordHeartbeat(deps, action).catch(() => false);
    throw error;
  }
}

/** Records one heartbeat; `false` when the action is gone. */
export async function recordHeartbeat(deps: AsgDeps, action: LifecycleAction): Promise<boolean> {
  try {
    await deps.autoScaling.send(
      new RecordLifecycleActionHeartbeatCommand({
        AutoScalingGroupName: action.groupName,
        LifecycleHookName: action.hookName,
        InstanceId: action.instanceId,
        LifecycleActionToken: action.token,
      }),
    );
    return true;
  } catch (error) {
    if (isActionGone(error)) return false;
    throw classify(error, `RecordLifecycleActionHeartbeat ${action.instanceId}`);
  }
}

/**
 * Sends a heartbeat every half heartbeat timeout while started. Errors are logged, never thrown:
 * the main path completes the action or fails on its own.
 */
export class Heartbeat {
  private stopped = false;
  private running: Promise<void> | undefined;
  beats = 0;

  constructor(
    private readonly deps: AsgDeps,
    private readonly action: LifecycleAction,
  ) {}

  get intervalMs(): number {
    return Math.max(10, Math.floor(this.deps.settings.timeouts.heartbeatSeconds / 2)) * 1000;
  }

  start(): this {
    if (!this.running) this.running = this.loop();
    return this;
  }

  /** Sends one heartbeat now (before a wait that may be long). */
  async beat(): Promise<void> {
    if (this.stopped) return;
    try {
      if (await recordHeartbeat(this.deps, this.action)) this.beats++;
    } catch (error) {
      this.deps.logger.warn('heartbeat failed', { error: describeError(error) });
    }
  }

  stop(): void {
    this.stopped = true;
  }

  /** Wakes in short steps so that a stopped heartbeat leaves no long timer behind. */
  private async loop(): Promise<void> {
    // The hook's heartbeat timer started with the action, not with this invocation: a retried run
    // that starts late in the action's life beats at once (earlier runs may have died before
    // their first beat), a first run on a fresh action only after half the timeout.
    let last = Math.min(this.deps.clock.now(), this.action.startedAt ?? Infinity);
    for (;;) {
      await this.deps.clock.sleep(Math.min(5000, this.intervalMs));
      if (this.stopped) return;
      if (this.deps.clock.now() - last >= this.intervalMs) {
        last = this.deps.clock.now();
        await this.beat();
      }
    }
  }
}

/**
 * Growth hooks of the lifecycle flows (the grow helper's alarms and scratch volumes), run only
 * when `settings.growth` is set.
 */
export async function afterPrepare(deps: Deps, instanceId: string): Promise<void> {
  if (!deps.settings.growth) return;
  await ensureAlarm(deps, instanceId);
}

/** A spare (or any instance of a scratch group): scratch volume and alarm when configured. */
export async function prepareSpare(deps: Deps, instanceId: string): Promise<void> {
  const growth = deps.settings.growth;
  if (!growth?.scratch.enabled) return;
  if (deps.settings.nodeSets && !growth.scratch.forSpares) return;
  const scratch = await provisionScratch(deps, instanceId);
  deps.logger.info('scratch volume ready', { volumeId: scratch.volumeId, sizeGiB: scratch.sizeGiB });
  await ensureAlarm(deps, instanceId);
}

/** Before an instance goes: its disk alarm. */
export async function beforeRelease(deps: Deps, instanceId: string): Promise<void> {
  if (!deps.settings.growth) return;
  await deleteAlarm(deps, instanceId);
}

/** Growth part of the reconciler: missing/stale alarms, grown volumes orphaned by a vanished instance. */
export async function reconcileGrowth(
  deps: Deps,
  instanceIds: string[],
): Promise<{ reaped: ReapResult; alarms: AlarmRepair } | undefined> {
  if (!deps.settings.growth) return undefined;
  // One listing of the alarms in ALARM per run, for the stale grows and the stuck-alarm re-arm.
  const inAlarm = inAlarmOnce(deps);
  const reaped = await reapOrphanedVolumes(deps, inAlarm);
  const alarms = await repairAlarms(deps, instanceIds, inAlarm);
  deps.logger.info('growth reconciled', { reaped, alarms });
  return { reaped, alarms };
}
