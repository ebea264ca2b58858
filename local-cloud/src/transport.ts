import type { Clock } from '../../lambdas/shared/clock';
import { AwsError, fail, requestId, toSdkError, type ServiceName } from './errors';
import type { Authorizer } from './authorization';
import type { Random } from './random';

/** One service of the local cloud: answers an operation (`DescribeVolumes`) with its output. */
export interface ServiceModel {
  handle(operation: string, input: Record<string, unknown>, call?: CallContext): unknown;
}

/** Who makes a call: the checked principal (a service that acts on the caller's behalf judges it too). */
export interface CallContext {
  principal?: string;
}

/** Raised instead of a response once a test has "killed" the handler (see `Faults.killAfter`). */
export class HandlerKilled extends Error {
  constructor(call: string) {
    super(`handler killed (local cloud refused ${call})`);
    this.name = 'HandlerKilled';
  }
}

export interface OneShot {
  service?: ServiceName;
  operation: string;
  code: string;
  message: string;
  status: number;
  /** `before`: the call has no effect; `after`: the effect happens but the answer is lost. */
  when: 'before' | 'after';
  /** Skip this many matching calls first. */
  skip: number;
}

/**
 * Faults to inject. Throttling uses the service's own code (EC2 `RequestLimitExceeded`, others
 * `ThrottlingException`/`Throttling`), which the SDK's standard retry strategy recognises.
 */
export class Faults {
  throttleRate = 0;
  errorRate = 0;
  latencyMs = 0;
  /** Only these operations are subject to throttleRate/errorRate (all when empty). */
  operations: string[] = [];
  private oneShots: OneShot[] = [];
  private killAt: number | undefined;
  private callsSinceArm = 0;
  private killOn: string | undefined;
  killed = false;
  /**
   * An Availability Zone brownout: while set, every call that touches a resource of this AZ (an
   * instance, volume or ENI in it, or an AvailabilityZone parameter naming it) fails with a server
   * error: EC2 `Unavailable` or `InternalError` (EC2 API "Error codes": server errors), SSM
   * `InternalServerError`, Auto Scaling / CloudWatch `InternalFailure` (Common Errors). `zonesOf`
   * says which AZs a call touches (see zones.ts).
   */
  brownout:
    | {
        zone: string;
        zonesOf: (service: ServiceName, operation: string, input: Record<string, unknown>) => string[];
      }
    | undefined;
  /** Faults injected so far, by kind (`throttle`, `error`, `azBrownout`). */
  readonly counts: Record<string, number> = {};

  constructor(private readonly random: Random) {}

  /** The next matching call fails with `code`. */
  failNext(
    operation: string,
    code: string,
    options: Partial<Pick<OneShot, 'service' | 'message' | 'status' | 'when' | 'skip'>> = {},
  ): void {
    this.oneShots.push({
      operation,
      code,
      message: options.message ?? `Injected ${code}`,
      status: options.status ?? (code.startsWith('Internal') || code === 'ServiceUnavailable' ? 500 : 400),
      when: options.when ?? 'before',
      skip: options.skip ?? 0,
      service: options.service,
    });
  }

  /** After `calls` more calls have taken effect, every call fails as if the process had died. */
  killAfter(calls: number): void {
    this.killAt = calls;
    this.callsSinceArm = 0;
    this.killed = false;
  }

  /**
   * The handler dies right after the next `operation` call took effect (its answer is lost), as a
   * Lambda invocation cut at its deadline: every later call fails until `revive()`.
   */
  killAfterCall(operation: string): void {
    this.killOn = operation;
    this.killed = false;
  }

  revive(): void {
    this.killOn = undefined;
    this.killAt = undefined;
    this.killed = false;
  }

  reset(): void {
    this.throttleRate = 0;
    this.errorRate = 0;
    this.latencyMs = 0;
    this.operations = [];
    this.oneShots = [];
    this.brownout = undefined;
    this.revive();
  }

  private count(kind: string): void {
    this.counts[kind] = (this.counts[kind] ?? 0) + 1;
  }

  /** @internal */
  before(service: ServiceName, operation: string, input: Record<string, unknown> = {}): OneShot | undefined {
    if (this.killed) throw new HandlerKilled(`${service}:${operation}`);
    const shot = this.takeOneShot(service, operation);
    if (shot?.when === 'before') throw fail(shot.code, shot.message, shot.status);
    const brownout = this.brownout;
    if (brownout && brownout.zonesOf(service, operation, input).includes(brownout.zone)) {
      this.count('azBrownout');
      if (service === 'ec2') {
        throw this.random.chance(0.5)
          ? fail('Unavailable', "The server is overloaded and can't handle the request.", 503)
          : fail('InternalError', 'An internal error has occurred.', 500);
      }
      if (service === 'ssm') throw fail('InternalServerError', 'An error occurred on the server side.', 500);
      throw fail('InternalFailure', 'The request processing has failed because of an unknown error.', 500);
    }
    const subject = this.operations.length === 0 || this.operations.includes(operation);
    if (subject && this.throttleRate > 0 && this.random.chance(this.throttleRate)) {
      const code =
        service === 'ec2'
          ? 'RequestLimitExceeded'
          : service === 'autoscaling'
            ? 'Throttling'
            : 'ThrottlingException';
      this.count('throttle');
      throw fail(code, 'Rate exceeded', service === 'ec2' ? 503 : 400);
    }
    if (subject && this.errorRate > 0 && this.random.chance(this.errorRate)) {
      this.count('error');
      throw fail(
        service === 'ec2' ? 'InternalError' : 'InternalFailure',
        'An internal error has occurred',
        500,
      );
    }
    return shot;
  }

  /** @internal called once a call has taken effect */
  after(service: ServiceName, operation: string, shot: OneShot | undefined): void {
    if (this.killOn === operation) {
      this.killOn = undefined;
      this.killed = true;
      throw new HandlerKilled(`${service}:${operation} (after it took effect)`);
    }
    if (this.killAt !== undefined) {
      this.callsSinceArm++;
      if (this.callsSinceArm >= this.killAt) {
        this.killed = true;
        throw new HandlerKilled(`${service}:${operation} (after it took effect)`);
      }
    }
    if (shot?.when === 'after') throw fail(shot.code, shot.message, shot.status);
  }

  private takeOneShot(service: ServiceName, operation: string): OneShot | undefined {
    const index = this.oneShots.findIndex(
      (s) => s.operation === operation && (s.service === undefined || s.service === service),
    );
    if (index < 0) return undefined;
    const shot = this.oneShots[index];
    if (!shot) return undefined;
    if (shot.skip > 0) {
      shot.skip--;
      return undefined;
    }
    this.oneShots.splice(index, 1);
    return shot;
  }
}

export interface CallRecord {
  at: number;
  service: ServiceName;
  operation: string;
  input: unknown;
  error?: string;
}

/** Per-operation call counts (every attempt, including throttled ones) and an optional call log. */
export class Accounting {
  private counts = new Map<string, number>();
  log: CallRecord[] = [];
  keepLog = false;

  record(entry: CallRecord): void {
    const key = `${entry.service}:${entry.operation}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    if (this.keepLog) this.log.push(entry);
  }

  /** Calls per `service:Operation`. */
  snapshot(): Record<string, number> {
    return Object.fromEntries([...this.counts.entries()].sort());
  }

  /** Calls in all, or of one `service:Operation` or one service (`ec2`). */
  count(key?: string): number {
    let total = 0;
    for (const [k, v] of this.counts) {
      if (!key || k === key || k.startsWith(`${key}:`)) total += v;
    }
    return total;
  }

  reset(): void {
    this.counts.clear();
    this.log = [];
  }
}

/** What the middleware needs from the cloud. */
export interface Dispatcher {
  clock: Clock;
  faults: Faults;
  accounting: Accounting;
  /** Judges the calls of clients plugged with a principal (IAM, local-cloud/src/authorization.ts). */
  authorizer?: Authorizer;
  model(service: ServiceName): ServiceModel;
}

/**
 * Who calls through a plugged client: a role name the cloud has a policy for, or a function that
 * names the acting role at call time (the handlers share their clients). Without one, calls are
 * the test's own and are not judged.
 */
export type PrincipalSource = string | (() => string | undefined);

type Middleware = (
  next: (args: unknown) => Promise<unknown>,
  context: { commandName?: string },
) => (args: { input: Record<string, unknown> }) => Promise<unknown>;

interface PluggableClient {
  middlewareStack: {
    add(
      middleware: Middleware,
      options: { step: string; priority: string; name: string; override: boolean },
    ): void;
  };
}

/**
 * Plugs the local cloud under a real SDK v3 client. The command is built, serialized and signed as
 * in Lambda, and the standard retry middleware wraps the call (so throttling is retried by the SDK
 * as it would be); only the HTTP round trip and response parsing are replaced by the model.
 */
export function plug(
  client: PluggableClient,
  service: ServiceName,
  cloud: Dispatcher,
  principal?: PrincipalSource,
): void {
  const trace = process.env.BERTH_TRACE;
  const middleware: Middleware = (_next, context) => async (args) => {
    const operation = (context.commandName ?? '').replace(/Command$/, '');
    const input = structuredClone(args.input ?? {});
    if (cloud.faults.latencyMs > 0) await cloud.clock.sleep(cloud.faults.latencyMs);
    const record: CallRecord = { at: cloud.clock.now(), service, operation, input };
    const traced = trace !== undefined && trace !== '' && JSON.stringify(input).includes(trace);
    try {
      const shot = cloud.faults.before(service, operation, input);
      const model = cloud.model(service);
      const call: CallContext = {};
      if (principal !== undefined && cloud.authorizer) {
        // IAM judges the request before the service acts on it.
        const name = typeof principal === 'string' ? principal : principal();
        if (!name)
          throw new Error(
            `${service}:${operation} on a checked client with no acting role: invoke handlers through test/helpers/handlers.ts`,
          );
        cloud.authorizer.authorize(name, service, operation, input);
        if (cloud.authorizer.enabled) call.principal = name;
      }
      const result = await model.handle(operation, input, call);
      cloud.faults.after(service, operation, shot);
      cloud.accounting.record(record);
      if (traced) traceCall(record, principal, cloud.clock.now(), result);
      const output = structuredClone((result ?? {}) as Record<string, unknown>);
      return {
        output: {
          ...output,
          $metadata: { httpStatusCode: 200, requestId: requestId(), attempts: 1, totalRetryDelay: 0 },
        },
        response: { statusCode: 200, headers: {}, body: undefined },
      };
    } catch (error) {
      record.error = error instanceof Error ? error.name : String(error);
      cloud.accounting.record(record);
      if (traced) traceCall(record, principal, cloud.clock.now());
      if (error instanceof AwsError) throw toSdkError(service, error);
      throw error;
    }
  };
  client.middlewareStack.add(middleware, {
    step: 'deserialize',
    priority: 'high',
    name: 'berthLocalCloud',
    override: true,
  });
}

/**
 * With `BERTH_TRACE=<text>` (an instance id, a NodeID, a volume id), every call whose input contains
 * the text is written to standard error as it ends: virtual start and end time, acting role,
 * operation, input and the error it answered. For replaying one seed of the fault campaign.
 */
function traceCall(
  record: CallRecord,
  principal: PrincipalSource | undefined,
  end: number,
  result?: unknown,
): void {
  const who = typeof principal === 'function' ? principal() : principal;
  const input = JSON.stringify(record.input);
  const commandId = (result as { Command?: { CommandId?: string } } | undefined)?.Command?.CommandId;
  process.stderr.write(
    `[trace] ${(record.at / 1000).toFixed(3)}-${(end / 1000).toFixed(3)} ${who ?? 'test'} ` +
      `${record.service}:${record.operation} ${input.length > 400 ? `${input.slice(0, 400)}…` : input}` +
      `${record.error ? ` -> ${record.error}` : ''}${commandId ? ` -> ${commandId}` : ''}\n`,
  );
}

/** Unknown operations answer as AWS does for an action it does not know. */
export function unknownOperation(service: ServiceName, operation: string): never {
  throw fail(
    'InvalidAction',
    `The action ${operation} is not valid for this web service (${service} in the local cloud).`,
  );
}
