import { growthFixture } from './grow-fixture';

type Handler = (event: unknown) => Promise<{ grown: boolean; refused?: string; reason?: string }>;

describe('grow handler logs', () => {
  const env = { ...process.env };

  afterEach(() => {
    process.env = { ...env };
    jest.restoreAllMocks();
  });

  it('keeps the refusal text in its warning and triggers no Powertools warning about reserved keys', async () => {
    // Prepare: a fresh module graph whose logger shows warnings; an instance id that does not exist
    process.env.POWERTOOLS_LOG_LEVEL = 'WARN';
    process.env.POWERTOOLS_METRICS_DISABLED = 'true';
    const fx = growthFixture();
    const restore = fx.plugHandlers();
    let handler: Handler = async () => ({ grown: false });
    jest.isolateModules(() => {
      /* eslint-disable @typescript-eslint/no-require-imports */
      const runtime =
        require('../../../lambdas/shared/runtime') as typeof import('../../../lambdas/shared/runtime');
      fx.cloud.plugAll(runtime.clients, 0);
      runtime.setClock(fx.cloud.clock);
      handler = (require('../../../lambdas/grow') as { handler: Handler }).handler;
      /* eslint-enable @typescript-eslint/no-require-imports */
    });
    const lines: string[] = [];
    const capture = (chunk: string | Uint8Array) => {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      return true;
    };
    jest.spyOn(process.stdout, 'write').mockImplementation(capture);
    jest.spyOn(process.stderr, 'write').mockImplementation(capture);
    // Act
    let result;
    try {
      result = await handler({ instanceId: 'i-0123456789abcdef0', reason: 'test' });
    } finally {
      jest.restoreAllMocks();
      restore();
    }
    // Assess
    expect(result).toMatchObject({ grown: false, refused: 'not-running' });
    const text = lines.join('\n');
    expect(text).not.toMatch(/reserved key/);
    const refusal = lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((r) => r.message === 'grow refused');
    expect(refusal).toMatchObject({ level: 'WARN', reason: 'not-running' });
    expect(JSON.stringify(refusal)).toContain('i-0123456789abcdef0 is gone; only a running instance grows');
  });
});
