import { DescribeImagesCommand, DescribeInstancesCommand, EC2ServiceException } from '@aws-sdk/client-ec2';
import { LocalCloud } from '../src/index';

describe('the local cloud transport', () => {
  it('answers a real SDK client and counts the call', async () => {
    // Prepare
    const cloud = new LocalCloud();
    const { ec2 } = cloud.clients({ maxAttempts: 1 });
    // Act
    const error = await ec2.send(new DescribeImagesCommand({})).catch((e: unknown) => e);
    // Assess: the model shell knows no operation yet, and says so as AWS would
    expect(error).toBeInstanceOf(EC2ServiceException);
    expect((error as Error).name).toBe('InvalidAction');
    expect(cloud.accounting.count('ec2:DescribeImages')).toBe(1);
  });

  it('lets the SDK retry injected throttling', async () => {
    const cloud = new LocalCloud();
    const { ec2 } = cloud.clients({ retryDelayMs: 0 });
    cloud.faults.failNext('DescribeImages', 'RequestLimitExceeded', { status: 503 });
    const error = await ec2.send(new DescribeImagesCommand({})).catch((e: unknown) => e);
    expect((error as Error).name).toBe('InvalidAction');
    expect(cloud.accounting.count('ec2:DescribeImages')).toBe(2);
  });

  it('traces the calls that name BERTH_TRACE on standard error, and only those', async () => {
    // Prepare: the trace is read when the clients are plugged
    const written: string[] = [];
    const spy = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    process.env.BERTH_TRACE = 'i-0123456789abcdef0';
    try {
      const cloud = new LocalCloud();
      const { ec2 } = cloud.clients({ maxAttempts: 1 });
      // Act
      await ec2
        .send(new DescribeInstancesCommand({ InstanceIds: ['i-0123456789abcdef0'] }))
        .catch(() => undefined);
      await ec2
        .send(new DescribeInstancesCommand({ InstanceIds: ['i-0fedcba9876543210'] }))
        .catch(() => undefined);
    } finally {
      delete process.env.BERTH_TRACE;
      spy.mockRestore();
    }
    // Assess: one line, for the named instance, with the error it answered
    const lines = written.filter((w) => w.startsWith('[trace]'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/ec2:DescribeInstances .*i-0123456789abcdef0.* -> InvalidInstanceID\.NotFound/);
  });
});
