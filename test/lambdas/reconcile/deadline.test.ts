import { DeleteTagsCommand } from '@aws-sdk/client-ec2';
import { launch, reconcile } from '../../helpers/handlers';
import { CloudFixture } from '../../helpers/cloud-fixture';

/** A Lambda context whose invocation ends `ms` after it starts (virtual time). */
function contextOf(fx: CloudFixture, ms: number) {
  const start = fx.cloud.clock.now();
  return { getRemainingTimeInMillis: () => start + ms - fx.cloud.clock.now() };
}

/** The Scheduled Event EventBridge sends at virtual time `at`. */
function tick(at: number) {
  return {
    'detail-type': 'Scheduled Event',
    source: 'aws.events',
    time: new Date(at).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    detail: {},
  };
}

describe('reconcile handler within its schedule', () => {
  let fx: CloudFixture;
  let restore: () => void;

  afterEach(() => restore());

  it('ends every run before the next 5-minute tick, and the next runs adopt the prepare-node left running', async () => {
    // Prepare: two nodes whose prepared marks are gone; prepare-node now takes 400 s
    fx = new CloudFixture({ sets: 2 });
    restore = fx.plugHandlers();
    const ids = fx.launch(2);
    await Promise.all(fx.launchEvents().map((e) => launch(e)));
    for (const id of ids)
      await fx.clients.ec2.send(
        new DeleteTagsCommand({ Resources: [id], Tags: [{ Key: 'berth:prepared' }] }),
      );
    fx.cloud.ssm.recorder.respond('prepare-node.sh', { durationMs: 400_000 });
    const before = fx.cloud.ssm.recorder.requestsFor('prepare-node.sh').length;
    // Act: the schedule fires every 300 s; each run gets Lambda's 900 s
    const start = Math.ceil(fx.cloud.clock.now() / 1000) * 1000;
    await fx.cloud.clock.sleep(start - fx.cloud.clock.now());
    const took: number[] = [];
    for (let run = 0; run < 5; run++) {
      const at = start + run * 300_000;
      await fx.cloud.clock.sleep(Math.max(0, at - fx.cloud.clock.now()));
      await reconcile(tick(at), contextOf(fx, 900_000));
      took.push(fx.cloud.clock.now() - at);
    }
    // Assess: no run reached the next tick; one prepare-node per holder; both end prepared
    for (const ms of took) expect(ms).toBeLessThan(300_000);
    expect(fx.cloud.ssm.recorder.requestsFor('prepare-node.sh').slice(before)).toHaveLength(2);
    for (const id of ids)
      expect(fx.cloud.ec2.instance(id)?.tags['berth:prepared']).toBe(fx.cloud.ec2.instance(id)?.tags.NodeID);
  });
});
