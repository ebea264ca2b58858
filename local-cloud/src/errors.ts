import * as asg from '@aws-sdk/client-auto-scaling';
import * as cw from '@aws-sdk/client-cloudwatch';
import * as ec2 from '@aws-sdk/client-ec2';
import * as ssm from '@aws-sdk/client-ssm';

export type ServiceName = 'ec2' | 'autoscaling' | 'ssm' | 'cloudwatch';

type ServiceExceptionClass = new (options: {
  name: string;
  $fault: 'client' | 'server';
  $metadata: object;
  message?: string;
}) => Error;

const bases: Record<ServiceName, { base: ServiceExceptionClass; module: Record<string, unknown> }> = {
  ec2: { base: ec2.EC2ServiceException as unknown as ServiceExceptionClass, module: ec2 },
  autoscaling: { base: asg.AutoScalingServiceException as unknown as ServiceExceptionClass, module: asg },
  ssm: { base: ssm.SSMServiceException as unknown as ServiceExceptionClass, module: ssm },
  cloudwatch: { base: cw.CloudWatchServiceException as unknown as ServiceExceptionClass, module: cw },
};

/** Thrown by the models; the transport turns it into the SDK's own exception class. */
export class AwsError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
    this.name = code;
  }
}

/** Shorthand for models: `throw fail('InvalidVolume.NotFound', "The volume 'vol-1' does not exist.")`. */
export function fail(code: string, message: string, status = 400): AwsError {
  return new AwsError(code, message, status);
}

let requestCounter = 0;
export function requestId(): string {
  requestCounter++;
  return `00000000-0000-4000-8000-${requestCounter.toString(16).padStart(12, '0')}`;
}

/**
 * The exception the real client would throw for this error: the service's modelled class when the
 * service models one under this name (SSM's `InvalidInstanceId`, Auto Scaling's
 * `ResourceContentionFault`, …), else the service's base exception with `name` = the AWS code, which
 * is how EC2 (no modelled errors) surfaces `IncorrectState`, `VolumeInUse`, ….
 */
export function toSdkError(service: ServiceName, error: AwsError): Error {
  const { base, module } = bases[service];
  const modelled = module[error.code];
  const $metadata = { httpStatusCode: error.status, requestId: requestId(), attempts: 1, totalRetryDelay: 0 };
  const $fault = error.status >= 500 ? 'server' : 'client';
  if (typeof modelled === 'function' && modelled.prototype instanceof base) {
    const Cls = modelled as new (o: object) => Error;
    return new Cls({ $metadata, message: error.message });
  }
  return new base({ name: error.code, $fault, $metadata, message: error.message });
}
