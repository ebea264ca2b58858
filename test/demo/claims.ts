/** The demo's claims: each is checked, and the demo fails when any does not hold. */

export interface ClaimResult {
  id: number;
  title: string;
  ok: boolean;
  /** What was checked, one line each (✔ held / ✘ failed). */
  checks: { ok: boolean; text: string }[];
  error?: string;
}

/** Collects the checks of one claim; `expect` records instead of throwing so every check is reported. */
export class ClaimCheck {
  readonly checks: { ok: boolean; text: string }[] = [];

  expect(ok: boolean, text: string): boolean {
    this.checks.push({ ok, text });
    return ok;
  }

  equal<T>(actual: T, expected: T, text: string): boolean {
    const ok = JSON.stringify(actual) === JSON.stringify(expected);
    return this.expect(
      ok,
      ok ? text : `${text} (expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)})`,
    );
  }

  get ok(): boolean {
    return this.checks.length > 0 && this.checks.every((c) => c.ok);
  }
}

/** Runs one claim; an exception fails the claim (with its message) instead of stopping the demo. */
export async function runClaim(
  id: number,
  title: string,
  body: (check: ClaimCheck) => Promise<void>,
): Promise<ClaimResult> {
  const check = new ClaimCheck();
  try {
    await body(check);
    return { id, title, ok: check.ok, checks: check.checks };
  } catch (error) {
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    return { id, title, ok: false, checks: check.checks, error: message };
  }
}

export function formatClaims(results: readonly ClaimResult[]): string {
  const lines: string[] = [];
  for (const r of results) {
    lines.push(`${r.ok ? 'PASS' : 'FAIL'}  claim ${r.id}: ${r.title}`);
    for (const c of r.checks) lines.push(`        ${c.ok ? 'ok  ' : 'FAIL'} ${c.text}`);
    if (r.error) lines.push(`        FAIL stopped by ${r.error}`);
  }
  const passed = results.filter((r) => r.ok).length;
  lines.push(`${passed} of ${results.length} claims hold`);
  return lines.join('\n');
}

/** A plain text table (first row = header). */
export function formatTable(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  const line = (row: readonly string[]): string =>
    row
      .map((cell, i) => cell.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  const [header, ...body] = rows;
  if (!header) return '';
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

/** The checks of a claim that failed (and what stopped it), for test assertions: [] when it holds. */
export function claimFailures(result: ClaimResult): string[] {
  const failed = result.checks.filter((c) => !c.ok).map((c) => c.text);
  if (result.error) failed.push(`stopped by ${result.error}`);
  if (result.checks.length === 0 && !result.error) failed.push('nothing was checked');
  return failed;
}
