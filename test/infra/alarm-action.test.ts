import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import { GROW_FUNCTION_ARN_ENV } from '../../lambdas/shared/alarm-names';
import type { GroupSettingsInput } from '../../lambdas/shared/config';
import { StatefulNodeGroup } from '../../infra/stateful-node-group';

function synth(growth: GroupSettingsInput['growth']): {
  t: Template;
  berth: StatefulNodeGroup;
  stack: Stack;
} {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'AlarmAction', { env: { account: '111111111111', region: 'eu-west-1' } });
  const berth = new StatefulNodeGroup(stack, 'Berth', {
    autoScalingGroup: autoscaling.AutoScalingGroup.fromAutoScalingGroupName(stack, 'G', 'etcd'),
    filters: 'Service=etcd',
    growth,
  });
  return { t: Template.fromStack(stack), berth, stack };
}

describe('the disk alarms’ Lambda action', () => {
  it("lets only this group's disk alarms, in this account, invoke the grow function", () => {
    const { t, berth, stack } = synth({});
    const grow = stack.getLogicalId(berth.functions.grow.function.node.defaultChild as never);
    t.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      FunctionName: { 'Fn::GetAtt': [grow, 'Arn'] },
      Principal: 'lambda.alarms.cloudwatch.amazonaws.com',
      SourceAccount: '111111111111',
      SourceArn: {
        'Fn::Join': [
          '',
          ['arn:', { Ref: 'AWS::Partition' }, ':cloudwatch:eu-west-1:111111111111:alarm:berth-etcd-i-*'],
        ],
      },
    });
    t.resourcePropertiesCountIs(
      'AWS::Lambda::Permission',
      { Principal: 'lambda.alarms.cloudwatch.amazonaws.com' },
      1,
    );
  });

  it('tells the functions that create alarms the grow function’s ARN', () => {
    const { t, berth, stack } = synth({});
    const grow = stack.getLogicalId(berth.functions.grow.function.node.defaultChild as never);
    for (const handler of ['launch', 'terminate', 'reconcile'] as const) {
      const id = stack.getLogicalId(berth.functions[handler].function.node.defaultChild as never);
      expect(t.toJSON().Resources[id].Properties.Environment.Variables[GROW_FUNCTION_ARN_ENV]).toEqual({
        'Fn::GetAtt': [grow, 'Arn'],
      });
    }
    // The grow function learns its own ARN from its invocation context (no self-reference).
    t.hasResourceProperties('AWS::Lambda::Function', {
      Description: 'berth: grow',
      Environment: { Variables: Match.objectLike({ [GROW_FUNCTION_ARN_ENV]: Match.absent() }) },
    });
  });

  it('has neither without growth', () => {
    const { t } = synth(null);
    t.resourcePropertiesCountIs(
      'AWS::Lambda::Permission',
      { Principal: 'lambda.alarms.cloudwatch.amazonaws.com' },
      0,
    );
    expect(JSON.stringify(t.toJSON())).not.toContain(GROW_FUNCTION_ARN_ENV);
  });
});
