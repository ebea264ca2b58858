import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import { RECONCILE_MINUTES_ENV } from '../../lambdas/shared/alarm-names';
import { StatefulNodeGroup } from '../../infra/stateful-node-group';

describe('the reconcile schedule', () => {
  it('reaches the reconcile function, whose alarm audit takes one shard per run by it', () => {
    // Prepare
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new Stack(app, 'Schedule', { env: { account: '111111111111', region: 'eu-west-1' } });
    // Act
    new StatefulNodeGroup(stack, 'Berth', {
      autoScalingGroup: autoscaling.AutoScalingGroup.fromAutoScalingGroupName(stack, 'G', 'etcd'),
      filters: 'Service=etcd',
      reconcileEveryMinutes: 10,
    });
    // Assess
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(10 minutes)' });
    const functions = Object.values(template.findResources('AWS::Lambda::Function')).map(
      (r) => r.Properties as { Description: string; Environment: { Variables: Record<string, unknown> } },
    );
    const minutes = (handler: string) =>
      functions.find((f) => f.Description === `berth: ${handler}`)?.Environment.Variables[
        RECONCILE_MINUTES_ENV
      ];
    expect(minutes('reconcile')).toBe('10');
    expect(minutes('launch')).toBeUndefined();
  });
});
