/**
 * Customer managed KMS keys under EBS volumes: which key a volume is under, and whether EBS may use
 * it for the caller of CreateVolume / AttachVolume.
 *
 * EBS calls KMS with the permissions of the principal that makes the EC2 request (EBS User Guide,
 * "Requirements for Amazon EBS encryption": the caller needs kms:CreateGrant (with
 * kms:GrantIsForAWSResource), kms:Decrypt, kms:DescribeKey, kms:GenerateDataKeyWithoutPlaintext and
 * kms:ReEncrypt*; those requests arrive at KMS through EC2, so `kms:ViaService` is
 * `ec2.<region>.amazonaws.com`). Which of them each call needs, as observed and documented:
 * - CreateVolume: the data key (GenerateDataKeyWithoutPlaintext). "Amazon Web Services
 *   authenticates the KMS key asynchronously ... the action can appear to complete, but eventually
 *   fails" (EC2 API Reference, CreateVolume, KmsKeyId): the call answers `creating`, then the volume
 *   is gone (kubernetes/kubernetes#62171: the EBS notification says `deleted`; aws/aws-cli#2604:
 *   DescribeVolumes answers InvalidVolume.NotFound).
 * - AttachVolume: a grant for the instance (CreateGrant; without it AttachVolume fails,
 *   kubernetes/kubernetes#62171, documented in awsdocs/aws-kms-developer-guide#2) and the volume's
 *   data key decrypted (KMS Developer Guide, "How unusable KMS keys affect data keys": at attach,
 *   EC2 uses the KMS key to decrypt the volume's data key). EC2 refuses the call with
 *   `CustomerKeyHasBeenRevoked`, "Volume vol-… cannot be attached. The encrypted volume was unable
 *   to access the KMS master key." (the AWS CLI's answer quoted in kubernetes-retired/kube-aws#393
 *   and kubernetes/kubernetes#62171).
 * The AWS managed key `aws/ebs` needs none of this (its key policy lets every principal of the
 * account use it through EBS). Key policies are not modelled: a customer managed key's policy is
 * taken to leave its use to IAM, as the default key policy does.
 */
import type { AuthorizationRequest } from '../iam';
import type { CallContext } from '../transport';
import type { Ec2State } from './state';

/** The AWS managed EBS key of the account (`alias/aws/ebs`). */
export function awsManagedEbsKey(s: Ec2State): string {
  return `arn:aws:kms:${s.cloud.region}:${s.cloud.account}:key/local-cloud-default-ebs-key`;
}

const KEY_ID = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$/;

/**
 * The key ARN a CreateVolume KmsKeyId stands for (EC2 reports the key ARN in the volume's
 * KmsKeyId): a key id in this account and Region, an alias (name or ARN) through `kmsAliases`
 * (`alias/aws/ebs` is the AWS managed key), a key ARN as it is. Unknown aliases stay as given.
 */
export function keyArnOf(s: Ec2State, keyId: string): string {
  if (KEY_ID.test(keyId)) return `arn:aws:kms:${s.cloud.region}:${s.cloud.account}:key/${keyId}`;
  const alias = /^arn:aws[a-z-]*:kms:[^:]+:[0-9]{12}:(alias\/.+)$/.exec(keyId)?.[1] ?? keyId;
  if (alias === 'alias/aws/ebs') return awsManagedEbsKey(s);
  return s.settings.kmsAliases[alias] ?? keyId;
}

/** The key of a new volume: the one named, else the account's EBS default key. */
export function keyOfNewVolume(s: Ec2State, kmsKeyId: string | undefined): string {
  return keyArnOf(s, kmsKeyId ?? s.settings.ebsDefaultKmsKeyId ?? awsManagedEbsKey(s));
}

export type KeyUse = 'create' | 'attach';

const ACTIONS: Record<KeyUse, string[]> = {
  create: ['kms:GenerateDataKeyWithoutPlaintext'],
  attach: ['kms:CreateGrant', 'kms:Decrypt'],
};

/**
 * The KMS action EBS would be refused for the caller (`undefined`: allowed, or nothing to judge:
 * the AWS managed key, an unchecked client, IAM turned off).
 */
export function keyDenied(
  s: Ec2State,
  call: CallContext | undefined,
  operation: string,
  keyArn: string,
  use: KeyUse,
): string | undefined {
  if (call?.principal === undefined || keyArn === awsManagedEbsKey(s)) return undefined;
  const context = {
    'kms:ViaService': `ec2.${s.cloud.region}.amazonaws.com`,
    'kms:CallerAccount': s.cloud.account,
  };
  const requests: AuthorizationRequest[] = ACTIONS[use].map((action) => ({
    action,
    resources: [{ arn: keyArn }],
    context: action === 'kms:CreateGrant' ? { ...context, 'kms:GrantIsForAWSResource': 'true' } : context,
  }));
  return s.cloud.authorizer.judgeOnBehalf(call.principal, `ec2:${operation}`, requests);
}
