/** Handler invocations killed after a number of AWS calls, or cut at their Lambda deadline. */
import { AsyncLocalStorage } from 'node:async_hooks';
import { HandlerKilled } from '../../../local-cloud/src';

export interface KillState {
  after: number | undefined;
  calls: number;
  killed: boolean;
  /** Virtual time at which the invocation's deadline cuts it. */
  deadline: number;
  now: () => number;
  /** The deadline cut it (not the call count). */
  cut: boolean;
}

/**
 * Kills one handler invocation after `after` AWS calls that took effect, whatever else runs
 * concurrently: a middleware on the handlers' clients counts the calls of the invocation it runs
 * in (AsyncLocalStorage follows the invocation through its awaits); the call that reaches the
 * count takes effect but its answer is lost, and every later call of that invocation fails.
 */
class KillSwitch {
  private readonly store = new AsyncLocalStorage<KillState | undefined>();
  private readonly installed = new WeakSet<object>();

  install(clients: Record<string, PluggableClient>): void {
    for (const client of Object.values(clients)) {
      if (this.installed.has(client)) continue;
      this.installed.add(client);
      client.middlewareStack.add(
        (next, context) => async (args) => {
          const state = this.store.getStore();
          const name = (context.commandName ?? '').replace(/Command$/, '');
          if (state?.killed) throw new HandlerKilled(name);
          if (state && state.now() >= state.deadline) {
            // Lambda stops the invocation at its deadline: nothing after it happens.
            state.killed = true;
            state.cut = true;
            throw new HandlerKilled(`${name} (deadline)`);
          }
          const output = await next(args);
          if (state?.after !== undefined && ++state.calls >= state.after) {
            state.killed = true;
            throw new HandlerKilled(`${name} (after it took effect)`);
          }
          return output;
        },
        { step: 'initialize', priority: 'high', name: 'berthFaultsKillSwitch', override: true },
      );
    }
  }

  run<T>(state: KillState, body: () => Promise<T>): Promise<T> {
    return this.store.run(state, body);
  }
}

export type PluggableClient = {
  middlewareStack: {
    add(
      middleware: (
        next: (args: unknown) => Promise<unknown>,
        context: { commandName?: string },
      ) => (args: unknown) => Promise<unknown>,
      options: { step: 'initialize'; priority: 'high'; name: string; override: boolean },
    ): void;
  };
};

export const killSwitch = new KillSwitch();

export function isKilled(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e && depth < 5; depth++) {
    if (e instanceof HandlerKilled) return true;
    if (e instanceof Error && e.name === 'HandlerKilled') return true;
    if (e instanceof Error && /handler killed/.test(e.message)) return true;
    e = e instanceof Error ? e.cause : undefined;
  }
  return false;
}
