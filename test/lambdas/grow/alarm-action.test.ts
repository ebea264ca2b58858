/**
 * The disk alarm's Lambda action: the alarm names the grow function, CloudWatch invokes it with its
 * alarm-action payload, and that payload and the EventBridge event of the same state change grow
 * the node once.
 */
import { DescribeAlarmsCommand } from '@aws-sdk/client-cloudwatch';
import { clientToken } from '../../../lambdas/grow/core';
import { grow as handler } from '../../helpers/handlers';
import { TAG_GROW_TOKEN } from '../../../lambdas/domain/growth-tags';
import { alarmName, GROW_FUNCTION_ARN_ENV } from '../../../lambdas/shared/alarm-names';
import { parseAlarmStateChange } from '../../../lambdas/shared/events';
import type { CloudFixture } from '../../helpers/cloud-fixture';
import {
  ALARM_EVENT,
  growthFixture,
  grownVolumes,
  nodeWithSet,
  handlerSuite,
  reportDiskUsed,
} from './grow-fixture';

const GROW_ARN = 'arn:aws:lambda:eu-west-1:111111111111:function:berth-etcd-grow';

describe('the disk alarm’s action', () => {
  let fx: CloudFixture;
  const handlers = handlerSuite();
  const saved = process.env[GROW_FUNCTION_ARN_ENV];
  afterEach(() => {
    if (saved === undefined) delete process.env[GROW_FUNCTION_ARN_ENV];
    else process.env[GROW_FUNCTION_ARN_ENV] = saved;
  });

  function setup(...args: Parameters<typeof growthFixture>): CloudFixture {
    fx = growthFixture(...args);
    handlers.plug(fx);
    return fx;
  }

  async function describeAlarm(instanceId: string) {
    const out = await fx.clients.cloudWatch.send(
      new DescribeAlarmsCommand({ AlarmNames: [alarmName(fx.settings, instanceId)] }),
    );
    return out.MetricAlarms?.[0];
  }

  /** The disk stays full for three minutes: the alarm (2 of 2 one-minute periods) goes to ALARM. */
  async function diskFills(instanceId: string): Promise<void> {
    for (let i = 0; i < 3; i++) {
      await reportDiskUsed(fx, instanceId, 97);
      await fx.cloud.clock.sleep(60_000);
    }
  }

  it('names the grow function as the alarm action, enabled', async () => {
    // Prepare
    setup();
    process.env[GROW_FUNCTION_ARN_ENV] = GROW_ARN;
    // Act
    const { instanceId } = await nodeWithSet(fx);
    // Assess
    expect(await describeAlarm(instanceId)).toMatchObject({
      ActionsEnabled: true,
      AlarmActions: [GROW_ARN],
      OKActions: [],
      InsufficientDataActions: [],
    });
  });

  it('grows a node whose disk fills, from the payload CloudWatch sends the grow function', async () => {
    // Prepare
    setup();
    process.env[GROW_FUNCTION_ARN_ENV] = GROW_ARN;
    const { instanceId } = await nodeWithSet(fx);
    await diskFills(instanceId);
    // Act
    const invocations = fx.cloud.cloudwatch.takeLambdaInvocations(GROW_ARN);
    expect(invocations).toHaveLength(1);
    const result = await handler(invocations[0]?.payload);
    // Assess
    expect(invocations[0]?.payload).toMatchObject({
      source: 'aws.cloudwatch',
      alarmArn: `arn:aws:cloudwatch:eu-west-1:111111111111:alarm:${alarmName(fx.settings, instanceId)}`,
      alarmData: { alarmName: alarmName(fx.settings, instanceId), state: { value: 'ALARM' } },
    });
    expect(result).toMatchObject({ grown: true, instanceId, mode: 'add-device' });
    expect(grownVolumes(fx, instanceId)).toHaveLength(1);
    // Re-armed: back to OK, so that a disk still full fires (and invokes) again.
    expect(fx.cloud.cloudwatch.alarmState(alarmName(fx.settings, instanceId))).toBe('OK');
  });

  it.each([
    ['the alarm action first', false],
    ['both at once', true],
  ])(
    'creates one volume when the alarm action and the EventBridge event of one state change both arrive (%s)',
    async (_label, together) => {
      // Prepare
      setup();
      process.env[GROW_FUNCTION_ARN_ENV] = GROW_ARN;
      const { instanceId } = await nodeWithSet(fx);
      await diskFills(instanceId);
      const [invocation] = fx.cloud.cloudwatch.takeLambdaInvocations(GROW_ARN);
      const event = fx.cloud.events
        .drain(ALARM_EVENT)
        .find((e) => e.detail.alarmName === alarmName(fx.settings, instanceId));
      // Act
      const results = together
        ? await Promise.all([handler(invocation?.payload), handler(event)])
        : [await handler(invocation?.payload), await handler(event)];
      // Assess
      expect(results.filter((r) => r.grown)).toHaveLength(1);
      expect(grownVolumes(fx, instanceId)).toHaveLength(1);
      // One identity: the volume's ClientToken is the one the EventBridge event derives.
      const change = parseAlarmStateChange(event);
      const token = clientToken(fx.settings, instanceId, {
        kind: 'alarm',
        alarmName: change?.alarmName ?? '',
        stateTimestamp: change?.stateTimestamp ?? '',
      });
      expect(grownVolumes(fx, instanceId)[0]?.tags[TAG_GROW_TOKEN]).toBe(token);
    },
  );

  it('lets the grow function name itself as the action from its invocation context', async () => {
    // Prepare: three volumes, so that the fourth raises the threshold and rewrites the alarm.
    setup({}, { volumesPerSet: 3 });
    delete process.env[GROW_FUNCTION_ARN_ENV];
    const { instanceId } = await nodeWithSet(fx);
    expect(await describeAlarm(instanceId)).toMatchObject({ ActionsEnabled: false, AlarmActions: [] });
    await fx.clients.cloudWatch.send(
      new (await import('@aws-sdk/client-cloudwatch')).SetAlarmStateCommand({
        AlarmName: alarmName(fx.settings, instanceId),
        StateValue: 'ALARM',
        StateReason: 'test',
      }),
    );
    const event = fx.cloud.events.drain(ALARM_EVENT).pop();
    // Act: invoked through an alias, as Lambda reports it
    const result = await handler(event, { invokedFunctionArn: `${GROW_ARN}:live` });
    // Assess
    expect(result.grown).toBe(true);
    expect(await describeAlarm(instanceId)).toMatchObject({
      ActionsEnabled: true,
      AlarmActions: [GROW_ARN],
      Threshold: 80,
    });
  });
});

describe('parseAlarmStateChange', () => {
  const eventBridge = {
    version: '0',
    id: 'c4c1c1c9-6542-e61b-6ef0-8c4d36933a92',
    'detail-type': 'CloudWatch Alarm State Change',
    source: 'aws.cloudwatch',
    detail: {
      alarmName: 'berth-etcd-i-0123456789abcdef0',
      state: { value: 'ALARM', reason: 'Threshold Crossed', timestamp: '2026-12-01T10:00:00.123+0000' },
    },
  };
  const alarmAction = {
    source: 'aws.cloudwatch',
    alarmArn: 'arn:aws:cloudwatch:eu-west-1:111111111111:alarm:berth-etcd-i-0123456789abcdef0',
    accountId: '111111111111',
    time: '2026-12-01T10:00:00.123+0000',
    region: 'eu-west-1',
    alarmData: {
      alarmName: 'berth-etcd-i-0123456789abcdef0',
      state: { value: 'ALARM', reason: 'Threshold Crossed', timestamp: '2026-12-01T10:00:00.123+0000' },
    },
  };

  it('reads one state change identically from the EventBridge event and the alarm-action payload', () => {
    const a = parseAlarmStateChange(eventBridge);
    const b = parseAlarmStateChange(alarmAction);
    expect(a).toEqual({
      alarmName: 'berth-etcd-i-0123456789abcdef0',
      state: 'ALARM',
      stateTimestamp: '2026-12-01T10:00:00.123Z',
      via: 'eventbridge',
    });
    expect({ ...b, via: 'eventbridge' }).toEqual(a);
    expect(b?.via).toBe('alarm-action');
  });

  it('returns undefined for other events and names the malformed field', () => {
    expect(parseAlarmStateChange({ instanceId: 'i-0123456789abcdef0' })).toBeUndefined();
    expect(parseAlarmStateChange('x')).toBeUndefined();
    expect(() =>
      parseAlarmStateChange({
        ...alarmAction,
        alarmData: { ...alarmAction.alarmData, state: { value: 'ALARM' } },
      }),
    ).toThrow('alarmData.state.timestamp: is not a timestamp (got undefined)');
    expect(() => parseAlarmStateChange({ ...eventBridge, detail: { state: {} } })).toThrow(
      'detail.alarmName: missing or malformed',
    );
  });
});
