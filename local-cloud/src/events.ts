/** An EventBridge event as a rule target receives it. */
export interface BusEvent<D = Record<string, unknown>> {
  version: '0';
  id: string;
  'detail-type': string;
  source: string;
  account: string;
  time: string;
  region: string;
  resources: string[];
  detail: D;
}

/** The default event bus: the models put events here, tests take them and deliver them to handlers. */
export class EventBus {
  private queue: BusEvent[] = [];
  private seq = 0;
  private settlers: (() => void)[] = [];

  constructor(
    private readonly now: () => number,
    readonly account: string,
    readonly region: string,
  ) {}

  put<D extends Record<string, unknown>>(
    source: string,
    detailType: string,
    detail: D,
    resources: string[],
    /** When the event happened, if earlier than now (a model settling lazily). @default now */
    at?: number,
  ): BusEvent<D> {
    this.seq++;
    const event: BusEvent<D> = {
      version: '0',
      id: `00000000-0000-4000-9000-${this.seq.toString(16).padStart(12, '0')}`,
      'detail-type': detailType,
      source,
      account: this.account,
      time: new Date(at ?? this.now()).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      region: this.region,
      resources,
      detail,
    };
    this.queue.push(event as BusEvent);
    return event;
  }

  /**
   * Models whose state moves with the clock (heartbeat timeouts, alarm evaluation) register here:
   * the bus settles them before anyone reads it, so every event due by `now` is queued.
   */
  addSettler(settle: () => void): void {
    this.settlers.push(settle);
  }

  /** Lets every registered model catch up with the clock (emitting the events that fell due). */
  settle(): void {
    for (const settle of this.settlers) settle();
  }

  /** Takes every queued event (optionally only those of one detail-type). */
  drain(detailType?: string): BusEvent[] {
    this.settle();
    const taken = this.queue.filter((e) => !detailType || e['detail-type'] === detailType);
    this.queue = this.queue.filter((e) => !taken.includes(e));
    return taken;
  }

  peek(): readonly BusEvent[] {
    this.settle();
    return this.queue;
  }
}
