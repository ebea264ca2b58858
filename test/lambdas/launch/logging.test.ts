import { CloudFixture, LAUNCH_EVENT } from '../../helpers/cloud-fixture';

type Handler = (event: unknown) => Promise<{ result: string }>;

describe('launch handler logs', () => {
  const env = { ...process.env };

  afterEach(() => {
    process.env = { ...env };
    jest.restoreAllMocks();
  });

  it('writes JSON lines that all carry the instance id, the lifecycle token and (once known) the NodeID', async () => {
    // Prepare: a fresh module graph whose logger logs at INFO
    process.env.POWERTOOLS_LOG_LEVEL = 'INFO';
    const fx = new CloudFixture({ sets: 1 });
    const restore = fx.plugHandlers();
    let handler: Handler = async () => ({ result: 'none' });
    jest.isolateModules(() => {
      /* eslint-disable @typescript-eslint/no-require-imports */
      const runtime =
        require('../../../lambdas/shared/runtime') as typeof import('../../../lambdas/shared/runtime');
      fx.cloud.plugAll(runtime.clients, { retryDelayMs: 0, principal: 'launch' });
      runtime.setClock(fx.cloud.clock);
      handler = (require('../../../lambdas/launch') as { handler: Handler }).handler;
      /* eslint-enable @typescript-eslint/no-require-imports */
    });
    const [instanceId = ''] = fx.launch(1);
    const event = fx.takeEvent(LAUNCH_EVENT, instanceId);
    const lines: string[] = [];
    jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      return true;
    });
    // Act
    let outcome;
    try {
      outcome = await handler(event);
    } finally {
      jest.restoreAllMocks();
      restore();
    }
    // Assess
    expect(outcome.result).toBe('node');
    const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(records.length).toBeGreaterThan(3);
    for (const r of records) {
      expect(r).toMatchObject({ instanceId, lifecycleActionToken: event.detail.LifecycleActionToken });
    }
    const claimed = records.findIndex((r) => r.message === 'node set claimed');
    expect(claimed).toBeGreaterThanOrEqual(0);
    for (const r of records.slice(claimed)) expect(r.nodeId).toBe(fx.sets[0]?.nodeId);
  });
});
