import type { EC2Client } from '@aws-sdk/client-ec2';
import { LocalCloud } from '../src/index';

export const AZ_A = 'eu-west-1a';
export const AZ_B = 'eu-west-1b';

export interface Ec2Fixture {
  cloud: LocalCloud;
  ec2: EC2Client;
  subnets: Record<string, string>;
  vpcId: string;
  /** An instance already `running` in `az` (default AZ_A). */
  running(options?: { az?: string; instanceType?: string; tags?: Record<string, string> }): string;
}

/** A cloud with one VPC over two AZs and a real EC2Client that does not retry. */
export function ec2Fixture(options: { maxAttempts?: number } = {}): Ec2Fixture {
  const cloud = new LocalCloud();
  const { ec2 } = cloud.clients({ maxAttempts: options.maxAttempts ?? 1, retryDelayMs: 0 });
  const { vpcId, subnets } = cloud.ec2.seedNetwork({ azs: [AZ_A, AZ_B] });
  return {
    cloud,
    ec2,
    subnets,
    vpcId,
    running({ az = AZ_A, instanceType, tags } = {}) {
      const id = cloud.ec2.runInstance({ subnetId: subnets[az] ?? '', instanceType, tags });
      cloud.clock.advance(cloud.ec2.timing.instanceBootMs);
      return id;
    },
  };
}

/** The AWS error a call ends with (fails the test if it succeeds). */
export async function awsError(call: Promise<unknown>): Promise<{ name: string; message: string }> {
  try {
    await call;
  } catch (error) {
    const e = error as Error;
    return { name: e.name, message: e.message };
  }
  throw new Error('expected the call to fail, it succeeded');
}
