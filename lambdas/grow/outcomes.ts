/** How a grow ends without growing: a refusal (logged, counted, the alarm re-armed) or a no-op. */
import { resetAlarm } from '../aws/alarms';
import type { Deps } from '../shared/deps';
import type { Figures } from '../domain/growth-policy';
import type { GrowResult, NoGrowReason, Trigger } from './plan';

/** Where refusals are counted (Powertools Metrics in the handler). */
export interface RefusalSink {
  refusal(reason: string, figures: Figures | undefined): void;
}

export type GrowDeps = Deps & { refusals?: RefusalSink };

/** Refusal: logged with its figures, counted, never an error that retries. */
export async function refuse(
  deps: GrowDeps,
  instanceId: string,
  trigger: Trigger,
  reason: NoGrowReason,
  message: string,
  figures?: Figures,
): Promise<GrowResult> {
  deps.logger.warn('grow refused', { reason, detail: message, figures, trigger: trigger.kind });
  deps.refusals?.refusal(reason, figures);
  // Transient refusals: back to OK so that the alarm fires again once they may have passed.
  if (trigger.kind === 'alarm' && (reason === 'cooldown' || reason === 'modification-in-progress')) {
    await resetAlarm(deps, instanceId, `berth: grow refused (${reason}); re-armed`);
  }
  return { grown: false, instanceId, refused: reason, reason: message, ...(figures ? { figures } : {}) };
}

export function noop(
  instanceId: string,
  refused: NoGrowReason,
  reason: string,
  volumeId?: string,
): GrowResult {
  return { grown: false, instanceId, refused, reason, ...(volumeId ? { volumeId } : {}) };
}
