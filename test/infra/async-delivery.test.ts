import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import { StatefulNodeGroup, type StatefulNodeGroupProps } from '../../infra/stateful-node-group';

/** The group's template (no bundling: these tests read delivery settings, not code). */
function template(props: Partial<StatefulNodeGroupProps> = {}): Template {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'Delivery', { env: { account: '111111111111', region: 'eu-west-1' } });
  const autoScalingGroup = autoscaling.AutoScalingGroup.fromAutoScalingGroupName(stack, 'Group', 'etcd');
  new StatefulNodeGroup(stack, 'Berth', { autoScalingGroup, filters: 'Service=etcd', ...props });
  return Template.fromStack(stack);
}

/** The logical id of a handler's function (`BerthLaunchFunction…`). */
function functionId(t: Template, handler: string): string {
  const ids = Object.keys(t.findResources('AWS::Lambda::Function')).filter((id) =>
    id.startsWith(`Berth${handler}Function`),
  );
  expect(ids).toHaveLength(1);
  return ids[0] ?? '';
}

const settings: Partial<StatefulNodeGroupProps> = {
  timeouts: { heartbeatSeconds: 600 },
  growth: { alarm: { periodSeconds: 60, evaluationPeriods: 3, datapointsToAlarm: 2 } },
  reconcileEveryMinutes: 10,
};

describe('asynchronous delivery of the functions’ events', () => {
  it.each([
    // launch / terminate: the hook's heartbeat timeout; grow: the alarm's window; reconcile: its interval
    ['Launch', 600, 2],
    ['Terminate', 600, 2],
    ['Grow', 180, 2],
    ['Reconcile', 600, 0],
  ])('bounds %s’s queued events by what they are worth (%i s, %i retries)', (handler, age, retries) => {
    const t = template(settings);
    t.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: functionId(t, handler) },
      Qualifier: '$LATEST',
      MaximumEventAgeInSeconds: age,
      MaximumRetryAttempts: retries,
    });
  });

  it('ends the rule targets’ retries at the same age, dead-letter queue kept', () => {
    const t = template(settings);
    const rules = Object.values(t.findResources('AWS::Events::Rule')) as {
      Properties: {
        Targets: {
          Arn: { 'Fn::GetAtt': [string, string] };
          RetryPolicy: unknown;
          DeadLetterConfig: { Arn: { 'Fn::GetAtt': [string, string] } };
        }[];
      };
    }[];
    const byFunction = Object.fromEntries(
      rules.flatMap((r) =>
        r.Properties.Targets.map((target) => [
          /^Berth(\w+?)Function/.exec(target.Arn['Fn::GetAtt'][0])?.[1],
          {
            retry: target.RetryPolicy,
            dlq: target.DeadLetterConfig.Arn['Fn::GetAtt'][0].startsWith('BerthDeadLetters'),
          },
        ]),
      ),
    );
    expect(byFunction).toEqual({
      Launch: { retry: { MaximumEventAgeInSeconds: 600, MaximumRetryAttempts: 8 }, dlq: true },
      Terminate: { retry: { MaximumEventAgeInSeconds: 600, MaximumRetryAttempts: 8 }, dlq: true },
      Grow: { retry: { MaximumEventAgeInSeconds: 180, MaximumRetryAttempts: 8 }, dlq: true },
      Reconcile: { retry: { MaximumEventAgeInSeconds: 600, MaximumRetryAttempts: 8 }, dlq: true },
    });
  });

  it('keeps an age within Lambda’s 60 s – 6 h: a 30 s heartbeat and a daily reconciler', () => {
    const t = template({ timeouts: { heartbeatSeconds: 30 }, reconcileEveryMinutes: 1440 });
    t.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: functionId(t, 'Launch') },
      MaximumEventAgeInSeconds: 60,
    });
    t.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: functionId(t, 'Reconcile') },
      MaximumEventAgeInSeconds: 21600,
    });
  });

  it('reserves no concurrency unless asked', () => {
    const t = template(settings);
    for (const fn of Object.values(t.findResources('AWS::Lambda::Function')) as { Properties: object }[])
      expect(fn.Properties).not.toHaveProperty('ReservedConcurrentExecutions');
  });

  it('reserves one number for every function, or per function', () => {
    const every = template({ ...settings, reservedConcurrency: 5 });
    for (const handler of ['Launch', 'Terminate', 'Grow', 'Reconcile'])
      expect(
        every.findResources('AWS::Lambda::Function')[functionId(every, handler)]?.Properties,
      ).toMatchObject({
        ReservedConcurrentExecutions: 5,
      });
    const some = template({ ...settings, reservedConcurrency: { launch: 20, terminate: 10 } });
    const reserved = (handler: string) =>
      (
        some.findResources('AWS::Lambda::Function')[functionId(some, handler)]?.Properties as {
          ReservedConcurrentExecutions?: number;
        }
      ).ReservedConcurrentExecutions;
    expect(['Launch', 'Terminate', 'Grow', 'Reconcile'].map(reserved)).toEqual([
      20,
      10,
      undefined,
      undefined,
    ]);
  });
});
