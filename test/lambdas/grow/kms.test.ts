import { grow as handler } from '../../helpers/handlers';
import type { CloudFixture } from '../../helpers/cloud-fixture';
import { alarmFires, growthFixture, grownVolumes, handlerSuite, nodeWithSet } from './grow-fixture';

/** The account's EBS encryption-by-default key, customer managed (growth names no key of its own). */
const DEFAULT_KEY = 'arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab';

describe('grow in an account whose EBS default key is customer managed', () => {
  let fx: CloudFixture;
  const handlers = handlerSuite();

  async function grownUnder(kmsKeys: string[] | undefined) {
    fx = growthFixture({}, { sets: 1, ...(kmsKeys ? { kmsKeys } : {}) });
    fx.cloud.ec2.ebsDefaultKmsKeyId = DEFAULT_KEY;
    handlers.plug(fx);
    const { instanceId } = await nodeWithSet(fx);
    await handler(await alarmFires(fx, instanceId)).catch(() => undefined);
    return { instanceId, grown: grownVolumes(fx, instanceId) };
  }

  it('creates and attaches the volume under that key when kmsKeys names it', async () => {
    // Act
    const { instanceId, grown } = await grownUnder([DEFAULT_KEY]);
    // Assess
    expect(grown).toHaveLength(1);
    expect(grown[0]).toMatchObject({ encrypted: true, kmsKeyId: DEFAULT_KEY });
    expect(grown[0]?.attachments[0]?.instanceId).toBe(instanceId);
    expect(fx.cloud.authorizer.denied).toBe(0);
  });

  it('gets no volume when no prop names the key: EBS may not make its data key for the grow role', async () => {
    // Act
    const { grown } = await grownUnder(undefined);
    // Assess: CreateVolume answered `creating`, then the volume was gone
    expect(grown).toEqual([]);
    expect(fx.cloud.authorizer.denied).toBeGreaterThan(0);
  });
});
