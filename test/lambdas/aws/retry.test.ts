import { AttachVolumeCommand, DescribeVolumesCommand } from '@aws-sdk/client-ec2';
import { SendCommandCommand } from '@aws-sdk/client-ssm';
import { LocalCloud } from '../../../local-cloud/src';
import { createClients, MAX_ATTEMPTS } from '../../../lambdas/aws/clients';
import { isRetryable, isThrottling, isTransient } from '../../../lambdas/shared/errors';

/** berth's clients on a fresh cloud, with the SDK's backoff at 0 ms. */
function plugged() {
  const cloud = new LocalCloud({ seed: 1 });
  const clients = createClients({ region: cloud.region });
  cloud.plugAll(clients, { retryDelayMs: 0 });
  return { cloud, clients };
}

/** The attempts the SDK made for a call that failed. */
async function attemptsOfFailure(call: Promise<unknown>): Promise<{ name: string; attempts: number }> {
  try {
    await call;
  } catch (error) {
    const e = error as { name: string; $metadata?: { attempts?: number } };
    return { name: e.name, attempts: e.$metadata?.attempts ?? 0 };
  }
  throw new Error('the call succeeded');
}

describe('the retry policy of berth clients', () => {
  it('sends an EC2 read again after a server error, within the SDK', async () => {
    // Prepare
    const { cloud, clients } = plugged();
    cloud.faults.failNext('DescribeVolumes', 'InternalError');
    // Act
    const out = await clients.ec2.send(new DescribeVolumesCommand({}));
    // Assess
    expect(out.$metadata.attempts).toBe(2);
  });

  it('gives up after MAX_ATTEMPTS attempts, never more', async () => {
    // Prepare
    const { cloud, clients } = plugged();
    for (let i = 0; i < MAX_ATTEMPTS + 2; i++)
      cloud.faults.failNext('DescribeVolumes', 'RequestLimitExceeded', { status: 503 });
    // Act
    const failure = await attemptsOfFailure(clients.ec2.send(new DescribeVolumesCommand({})));
    // Assess
    expect(failure).toEqual({ name: 'RequestLimitExceeded', attempts: MAX_ATTEMPTS });
  });

  it('leaves IncorrectState to the caller: one attempt', async () => {
    // Prepare
    const { cloud, clients } = plugged();
    cloud.faults.failNext('AttachVolume', 'IncorrectState');
    // Act
    const failure = await attemptsOfFailure(
      clients.ec2.send(new AttachVolumeCommand({ VolumeId: 'vol-1', InstanceId: 'i-1', Device: '/dev/sdf' })),
    );
    // Assess
    expect(failure).toEqual({ name: 'IncorrectState', attempts: 1 });
  });

  it('sends SendCommand again after throttling, which refused it unprocessed', async () => {
    // Prepare: the retry reaches SSM, which answers for the unknown instance
    const { cloud, clients } = plugged();
    cloud.faults.failNext('SendCommand', 'ThrottlingException');
    // Act
    const failure = await attemptsOfFailure(
      clients.ssm.send(
        new SendCommandCommand({ DocumentName: 'berth-x', InstanceIds: ['i-0123456789abcdef0'] }),
      ),
    );
    // Assess
    expect(failure.attempts).toBe(2);
    expect(failure.name).not.toBe('ThrottlingException');
  });

  it('never sends SendCommand again after a server error, which may come after the command went out', async () => {
    // Prepare
    const { cloud, clients } = plugged();
    cloud.faults.failNext('SendCommand', 'InternalServerError');
    // Act
    const failure = await attemptsOfFailure(
      clients.ssm.send(
        new SendCommandCommand({ DocumentName: 'berth-x', InstanceIds: ['i-0123456789abcdef0'] }),
      ),
    );
    // Assess
    expect(failure).toEqual({ name: 'InternalServerError', attempts: 1 });
  });

  it('sends other SSM calls again after a server error', async () => {
    // Prepare
    const { cloud, clients } = plugged();
    cloud.faults.failNext('DescribeInstanceInformation', 'InternalServerError');
    // Act
    const { DescribeInstanceInformationCommand } = await import('@aws-sdk/client-ssm');
    const out = await clients.ssm.send(new DescribeInstanceInformationCommand({}));
    // Assess
    expect(out.$metadata.attempts).toBe(2);
  });
});

describe('error classes from the SDK error metadata', () => {
  const sdkError = (name: string, status: number, extra: object = {}) =>
    Object.assign(new Error(name), {
      name,
      $fault: status >= 500 ? 'server' : 'client',
      $metadata: { httpStatusCode: status },
      ...extra,
    });

  it.each([
    ['RequestLimitExceeded', 503, true, true],
    ['ThrottlingException', 400, true, true],
    ['SomethingNew', 429, true, true],
    ['Unavailable', 503, false, true],
    ['InternalFailure', 500, false, true],
    ['ResourceContentionFault', 500, false, true],
    ['NotImplementedYet', 501, false, true],
    ['InvalidParameterValue', 400, false, false],
    ['InvalidVolume.ZoneMismatch', 400, false, false],
  ])('%s (HTTP %i): throttling %s, transient %s', (name, status, throttling, transient) => {
    const error = sdkError(name, status);
    expect([isThrottling(error), isTransient(error)]).toEqual([throttling, transient]);
  });

  it('takes a socket error and a timeout for transient', () => {
    expect(isTransient(Object.assign(new Error('reset'), { code: 'ECONNRESET' }))).toBe(true);
    expect(isTransient(Object.assign(new Error('t'), { name: 'TimeoutError' }))).toBe(true);
  });

  it('takes a state error for retryable by the caller, not by the SDK', () => {
    const error = sdkError('IncorrectState', 400);
    expect([isTransient(error), isRetryable(error)]).toEqual([false, true]);
  });
});
