import { growthFixture } from './grow-fixture';

type Handler = (
  event: unknown,
  context?: Record<string, unknown>,
) => Promise<{ grown: boolean; refused?: string; reason?: string }>;

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

  it('tags each invocation with its Lambda context (request id, cold start) and none of the previous keys', async () => {
    // Prepare: a fresh module graph; two invocations with their own Lambda contexts
    process.env.POWERTOOLS_LOG_LEVEL = 'INFO';
    process.env.POWERTOOLS_METRICS_DISABLED = 'true';
    // What Lambda sets for an on-demand execution environment (Powertools reads it for cold_start).
    process.env.AWS_LAMBDA_INITIALIZATION_TYPE = 'on-demand';
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
    const context = (awsRequestId: string) => ({
      awsRequestId,
      functionName: 'berth-grow',
      functionVersion: '$LATEST',
      memoryLimitInMB: '512',
      invokedFunctionArn: 'arn:aws:lambda:eu-west-1:111111111111:function:berth-grow',
    });
    jest.spyOn(process.stdout, 'write').mockImplementation(capture);
    jest.spyOn(process.stderr, 'write').mockImplementation(capture);
    // Act
    let first: string[];
    try {
      await handler({ instanceId: 'i-0123456789abcdef0', reason: 'test' }, context('req-1'));
      first = lines.splice(0);
      await handler({ instanceId: 'i-0fedcba9876543210', reason: 'test' }, context('req-2'));
    } finally {
      jest.restoreAllMocks();
      restore();
    }
    // Assess
    const records = (text: string[]) => text.map((l) => JSON.parse(l) as Record<string, unknown>);
    const one = records(first);
    const two = records(lines);
    expect(one.length).toBeGreaterThan(0);
    expect(two.length).toBeGreaterThan(0);
    for (const r of one) expect(r).toMatchObject({ function_request_id: 'req-1', cold_start: true });
    for (const r of two) {
      expect(r).toMatchObject({ function_request_id: 'req-2', cold_start: false });
      expect(r.instanceId).not.toBe('i-0123456789abcdef0');
    }
  });
});
