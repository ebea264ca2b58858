import type { Clock } from '../../lambdas/shared/clock';

interface Timer {
  due: number;
  seq: number;
  resolve: () => void;
}

/**
 * A virtual clock. `sleep` never waits for real: when every task of the test is parked on a
 * virtual timer (no microtask or I/O left to run) the clock jumps to the earliest due timer.
 * Real work that the clock must wait for (a host script running on this machine) is registered
 * with `track`, and time stands still while it runs.
 */
export class VirtualClock implements Clock {
  private t: number;
  private seq = 0;
  private timers: Timer[] = [];
  private scheduled = false;
  private realWork = 0;

  constructor(start = Date.parse('2026-11-21T00:00:00Z')) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      this.timers.push({ due: this.t + Math.max(0, ms), seq: this.seq++, resolve });
      this.schedule();
    });
  }

  /** Move time forward by hand (timers that fall due are released). */
  advance(ms: number): void {
    this.t += Math.max(0, ms);
    this.release();
  }

  /** Time does not move while `work` runs (it is real work on this machine). */
  async track<T>(work: Promise<T>): Promise<T> {
    this.realWork++;
    try {
      return await work;
    } finally {
      this.realWork--;
      this.schedule();
    }
  }

  get pendingTimers(): number {
    return this.timers.length;
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    // Two macrotask turns: every promise chain that can make progress without time has done so.
    setImmediate(() =>
      setImmediate(() => {
        this.scheduled = false;
        this.tick();
      }),
    );
  }

  private tick(): void {
    if (this.timers.length === 0) return;
    if (this.realWork > 0) return; // `track` reschedules when the real work ends
    const next = this.timers.reduce((a, b) => (b.due < a.due || (b.due === a.due && b.seq < a.seq) ? b : a));
    if (next.due > this.t) this.t = next.due;
    this.release();
  }

  private release(): void {
    const due = this.timers.filter((x) => x.due <= this.t).sort((a, b) => a.due - b.due || a.seq - b.seq);
    if (due.length === 0) return;
    this.timers = this.timers.filter((x) => x.due > this.t);
    for (const timer of due) timer.resolve();
    if (this.timers.length > 0) this.schedule();
  }
}
