/**
 * The example app (`npm run synth`): one stack, checked by cdk-nag's AwsSolutions pack. Any
 * unacknowledged finding stops the synthesis.
 */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ExampleStack } from './example-stack';

export function buildApp(props: { outdir?: string } = {}): { app: App; stack: ExampleStack } {
  const app = new App(props.outdir ? { outdir: props.outdir } : {});
  const stack = new ExampleStack(app, 'BerthExample');
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack };
}

if (require.main === module) {
  buildApp().app.synth();
}
