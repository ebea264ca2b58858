import { AttachVolumeCommand, CreateVolumeCommand, DescribeVolumesCommand } from '@aws-sdk/client-ec2';
import type { PolicyStatement } from '../src/iam';
import { LocalCloud } from '../src/index';

const KEY = 'arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const VIA = { 'kms:ViaService': 'ec2.eu-west-1.amazonaws.com' };
const ec2Calls: PolicyStatement = {
  Effect: 'Allow',
  Action: ['ec2:AttachVolume', 'ec2:CreateVolume', 'ec2:DescribeVolumes'],
  Resource: '*',
};
const grant: PolicyStatement = {
  Effect: 'Allow',
  Action: 'kms:CreateGrant',
  Resource: KEY,
  Condition: { Bool: { 'kms:GrantIsForAWSResource': 'true' }, StringEquals: VIA },
};
const decrypt: PolicyStatement = {
  Effect: 'Allow',
  Action: 'kms:Decrypt',
  Resource: KEY,
  Condition: { StringEquals: VIA },
};
const dataKey: PolicyStatement = {
  Effect: 'Allow',
  Action: 'kms:GenerateDataKeyWithoutPlaintext',
  Resource: KEY,
  Condition: { StringEquals: VIA },
};

/** A running instance and a volume under `kmsKeyId`, and clients acting as a role with `statements`. */
function world(statements: PolicyStatement[], kmsKeyId?: string) {
  const cloud = new LocalCloud();
  const { subnets } = cloud.ec2.seedNetwork({ azs: ['eu-west-1a'] });
  const instanceId = cloud.ec2.runInstance({ subnetId: subnets['eu-west-1a'] as string });
  cloud.clock.advance(cloud.ec2.timing.instanceBootMs);
  const volumeId = cloud.ec2.seedVolume({
    availabilityZone: 'eu-west-1a',
    ...(kmsKeyId ? { kmsKeyId } : {}),
  });
  cloud.authorizer.setPrincipal('fn', { roleName: 'Fn', sessionName: 'berth-fn', statements });
  const { ec2 } = cloud.clients({ maxAttempts: 1, principal: 'fn' });
  const attach = () =>
    ec2.send(new AttachVolumeCommand({ VolumeId: volumeId, InstanceId: instanceId, Device: '/dev/sdf' }));
  return { cloud, ec2, volumeId, attach };
}

describe('EBS volumes under customer managed keys in the local cloud', () => {
  it('refuses to attach a volume whose key EBS may not use for the caller, as EC2 does', async () => {
    // Prepare: the grant without Decrypt, then without the grant
    for (const statements of [
      [ec2Calls, grant],
      [ec2Calls, decrypt],
    ]) {
      const { cloud, attach, volumeId } = world(statements, KEY);
      // Act + Assess
      await expect(attach()).rejects.toMatchObject({
        name: 'CustomerKeyHasBeenRevoked',
        message: `Volume ${volumeId} cannot be attached. The encrypted volume was unable to access the KMS master key.`,
        $metadata: { httpStatusCode: 400 },
      });
      expect(cloud.ec2.volume(volumeId)?.attachments).toEqual([]);
      expect(cloud.authorizer.denied).toBe(1);
    }
  });

  it('attaches with the grant (for an AWS resource, through EC2) and Decrypt', async () => {
    const { cloud, attach, volumeId } = world([ec2Calls, grant, decrypt], KEY);
    await attach();
    expect(cloud.ec2.volume(volumeId)?.attachments[0]?.state).toBe('attaching');
  });

  it('needs no KMS permission for the AWS managed key, nor for an unencrypted volume', async () => {
    const unencrypted = world([ec2Calls]);
    await unencrypted.attach();
    const byAlias = world([ec2Calls], 'alias/aws/ebs');
    await byAlias.attach();
    expect(byAlias.cloud.ec2.volume(byAlias.volumeId)?.kmsKeyId).toBe(
      'arn:aws:kms:eu-west-1:111111111111:key/local-cloud-default-ebs-key',
    );
  });

  it('answers CreateVolume, then loses the volume, when EBS may not make its data key for the caller', async () => {
    for (const [statements, survives] of [
      [[ec2Calls], false],
      [[ec2Calls, dataKey], true],
    ] as const) {
      // Prepare: the account's default EBS key is customer managed
      const { cloud, ec2 } = world([...statements]);
      cloud.ec2.ebsDefaultKmsKeyId = KEY;
      // Act
      const created = await ec2.send(
        new CreateVolumeCommand({
          AvailabilityZone: 'eu-west-1a',
          Size: 10,
          VolumeType: 'gp3',
          Encrypted: true,
        }),
      );
      cloud.clock.advance(cloud.ec2.timing.createVolumeMs);
      // Assess
      expect(created).toMatchObject({ State: 'creating', KmsKeyId: KEY });
      const described = ec2.send(new DescribeVolumesCommand({ VolumeIds: [created.VolumeId as string] }));
      if (survives) await expect(described).resolves.toMatchObject({ Volumes: [{ State: 'available' }] });
      else await expect(described).rejects.toMatchObject({ name: 'InvalidVolume.NotFound' });
    }
  });
});
