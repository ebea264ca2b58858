import { DescribeImagesCommand, EC2ServiceException } from '@aws-sdk/client-ec2';
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
});
