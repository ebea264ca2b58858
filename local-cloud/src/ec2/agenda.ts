/** A min-heap of timed transitions: settling costs O(due transitions × log n), not O(state). */
export class Agenda {
  private heap: { due: number; seq: number; run: (due: number) => void }[] = [];
  private seq = 0;

  at(due: number, run: (due: number) => void): void {
    const heap = this.heap;
    heap.push({ due, seq: this.seq++, run });
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  /** Runs every transition due by `now`, in time order; returns how many ran. */
  runDue(now: number): number {
    const heap = this.heap;
    let ran = 0;
    for (; ; ran++) {
      const top = heap[0];
      if (!top || top.due > now) return ran;
      const last = heap.pop();
      if (last && heap.length > 0) {
        heap[0] = last;
        this.down(0);
      }
      top.run(top.due);
    }
  }

  private down(i: number): void {
    const n = this.heap.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && this.less(l, m)) m = l;
      if (r < n && this.less(r, m)) m = r;
      if (m === i) return;
      this.swap(i, m);
      i = m;
    }
  }

  private less(a: number, b: number): boolean {
    const x = this.heap[a];
    const y = this.heap[b];
    if (!x || !y) return false;
    return x.due < y.due || (x.due === y.due && x.seq < y.seq);
  }

  private swap(a: number, b: number): void {
    const x = this.heap[a];
    const y = this.heap[b];
    if (!x || !y) return;
    this.heap[a] = y;
    this.heap[b] = x;
  }
}
