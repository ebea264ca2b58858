/**
 * The demo's timeline: one line per step, with the real time elapsed since the start and the local
 * cloud's virtual time (AWS waits such as instance boot or alarm periods pass on a virtual clock).
 */

export interface TimelineEntry {
  /** Real milliseconds since the timeline started. */
  realMs: number;
  /** Virtual milliseconds since the timeline started. */
  virtualMs: number;
  kind: 'step' | 'note' | 'section';
  text: string;
}

export class Timeline {
  readonly entries: TimelineEntry[] = [];
  private readonly startReal: number;
  private readonly startVirtual: number;

  constructor(
    private readonly virtualNow: () => number,
    private readonly out: ((line: string) => void) | undefined = (line) => console.log(line),
    private readonly realNow: () => number = () => performance.now(),
  ) {
    this.startReal = realNow();
    this.startVirtual = virtualNow();
  }

  /** A heading (a claim being shown). */
  section(text: string): void {
    this.push('section', text);
  }

  /** Something berth or the world did. */
  step(text: string): void {
    this.push('step', text);
  }

  /** A step that happened at a given cloud time (ms since the epoch), e.g. an AWS call from the log. */
  stepAt(virtualTime: number, text: string): void {
    this.push('step', text, virtualTime);
  }

  /** A detail under the previous step. */
  note(text: string): void {
    this.push('note', text);
  }

  get elapsedVirtualMs(): number {
    return this.virtualNow() - this.startVirtual;
  }

  get elapsedRealMs(): number {
    return this.realNow() - this.startReal;
  }

  private push(kind: TimelineEntry['kind'], text: string, virtualTime = this.virtualNow()): void {
    const entry: TimelineEntry = {
      realMs: this.realNow() - this.startReal,
      virtualMs: virtualTime - this.startVirtual,
      kind,
      text,
    };
    this.entries.push(entry);
    this.out?.(formatEntry(entry));
  }
}

export function formatSeconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)}s`;
}

/** `mm:ss` of virtual time (the cloud's clock). */
export function formatVirtual(ms: number): string {
  const total = Math.floor(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const mmss = `${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}`;
  return h > 0 ? `${h}:${mmss}` : mmss;
}

export function formatEntry(entry: TimelineEntry): string {
  if (entry.kind === 'section') return `\n== ${entry.text}`;
  const stamp = `[${formatSeconds(entry.realMs).padStart(7)} | cloud ${formatVirtual(entry.virtualMs).padStart(5)}]`;
  return entry.kind === 'step' ? `${stamp} ${entry.text}` : `${' '.repeat(stamp.length)}   ${entry.text}`;
}
