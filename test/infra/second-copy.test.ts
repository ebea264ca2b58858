/* eslint-disable @typescript-eslint/no-require-imports -- a second copy of aws-cdk-lib can only be loaded with require inside jest.isolateModules */
/**
 * A consumer's app brings its own copy of aws-cdk-lib: its AutoScalingGroup is not an instance of
 * berth's AutoScalingGroup class. jest.isolateModules loads a second copy, as a second install
 * would; berth must still put its hooks in the group's own definition and create the group after
 * its rules (else the group's first instances skip the launch hook).
 */
import { Template } from 'aws-cdk-lib/assertions';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import { StatefulNodeGroup } from '../../infra/stateful-node-group';

type Cdk = typeof import('aws-cdk-lib');
type Ec2 = typeof import('aws-cdk-lib/aws-ec2');
type Asg = typeof import('aws-cdk-lib/aws-autoscaling');

/**
 * Runs `build` with a second copy of aws-cdk-lib. Everything happens inside the isolated registry:
 * aws-cdk-lib loads its classes lazily, and a lazy load after isolateModules returned would fall
 * back to the first copy.
 */
function withSecondCopy<T>(build: (copy: { cdk: Cdk; ec2: Ec2; asg: Asg }) => T): T {
  let result: { value: T } | undefined;
  jest.isolateModules(() => {
    result = {
      value: build({
        cdk: require('aws-cdk-lib') as Cdk,
        ec2: require('aws-cdk-lib/aws-ec2') as Ec2,
        asg: require('aws-cdk-lib/aws-autoscaling') as Asg,
      }),
    };
  });
  if (!result) throw new Error('no second copy');
  return result.value;
}

describe('a group built with another copy of aws-cdk-lib', () => {
  beforeAll(() => {
    // Load, in this (the first) copy, every class berth uses, by building it once: aws-cdk-lib
    // loads classes on first use, and a first use inside isolateModules would load the second copy.
    const { App, Stack } = require('aws-cdk-lib') as Cdk;
    const stack = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'Warm');
    const group = autoscaling.AutoScalingGroup.fromAutoScalingGroupName(stack, 'G', 'warm');
    new StatefulNodeGroup(stack, 'Berth', { autoScalingGroup: group, filters: 'Service=warm' });
    Template.fromStack(stack);
  });

  it('gets the hooks in its own definition and waits for the rules and functions', () => {
    const { template, isSameClass } = withSecondCopy(({ cdk, ec2, asg }) => {
      const app = new cdk.App({ context: { 'aws:cdk:bundling-stacks': [] } });
      const stack = new cdk.Stack(app, 'Consumer', { env: { account: '111111111111', region: 'eu-west-1' } });
      const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 1, natGateways: 0 });
      const group = new asg.AutoScalingGroup(stack, 'Group', {
        autoScalingGroupName: 'etcd',
        vpc,
        vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
        instanceType: new ec2.InstanceType('t4g.small'),
        machineImage: ec2.MachineImage.fromSsmParameter('/my/ami'),
      });
      new StatefulNodeGroup(stack, 'Berth', {
        autoScalingGroup: group as unknown as autoscaling.IAutoScalingGroup,
        filters: 'Service=etcd',
      });
      return {
        isSameClass: group instanceof autoscaling.AutoScalingGroup,
        template: Template.fromJSON(app.synth().getStackByName('Consumer').template as object),
      };
    });
    // The two copies really differ.
    expect(isSameClass).toBe(false);
    template.resourceCountIs('AWS::AutoScaling::LifecycleHook', 0);
    const groups = template.findResources('AWS::AutoScaling::AutoScalingGroup') as Record<
      string,
      { Properties: { LifecycleHookSpecificationList?: unknown[] }; DependsOn?: string[] }
    >;
    const [definition] = Object.values(groups);
    expect(definition?.Properties.LifecycleHookSpecificationList).toEqual([
      {
        LifecycleHookName: 'berth-launch',
        LifecycleTransition: 'autoscaling:EC2_INSTANCE_LAUNCHING',
        DefaultResult: 'ABANDON',
        HeartbeatTimeout: 900,
      },
      {
        LifecycleHookName: 'berth-terminate',
        LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING',
        DefaultResult: 'CONTINUE',
        HeartbeatTimeout: 900,
      },
    ]);
    const dependsOn = definition?.DependsOn ?? [];
    for (const prefix of [
      'BerthLaunchRule',
      'BerthTerminateRule',
      'BerthLaunchFunction',
      'BerthTerminateFunction',
    ])
      expect({ prefix, waits: dependsOn.some((id) => id.startsWith(prefix)) }).toEqual({
        prefix,
        waits: true,
      });
  });

  it('keeps hooks the group already defines and refuses a hook name it already uses', () => {
    const build = (hookName: string) =>
      withSecondCopy(({ cdk, ec2, asg }) => {
        const stack = new cdk.Stack(new cdk.App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'S');
        const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 1, natGateways: 0 });
        const group = new asg.AutoScalingGroup(stack, 'Group', {
          autoScalingGroupName: 'etcd',
          vpc,
          vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
          instanceType: new ec2.InstanceType('t4g.small'),
          machineImage: ec2.MachineImage.fromSsmParameter('/my/ami'),
        });
        const cfn = group.node.defaultChild as InstanceType<Asg['CfnAutoScalingGroup']>;
        cfn.lifecycleHookSpecificationList = [
          { lifecycleHookName: hookName, lifecycleTransition: 'autoscaling:EC2_INSTANCE_LAUNCHING' },
        ];
        new StatefulNodeGroup(stack, 'Berth', {
          autoScalingGroup: group as unknown as autoscaling.IAutoScalingGroup,
          filters: 'Service=etcd',
        });
        return cfn;
      });
    expect((build('warm-pool').lifecycleHookSpecificationList as unknown[]).length).toBe(3);
    expect(() => build('berth-launch')).toThrow(
      'launchHookName: the group already defines a lifecycle hook named "berth-launch"; give berth other hook names (launchHookName, terminateHookName)',
    );
  });
});
