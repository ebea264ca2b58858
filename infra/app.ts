/**
 * The example app (`npm run synth`): one stack, checked by cdk-nag's AwsSolutions pack. Any
 * unacknowledged finding stops the synthesis.
 */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ExampleStack } from './example-stack';

/** cdk.json's context (the AZs of the example account): the CLI passes it, an in-process synth reads it. */
function cdkJsonContext(): Record<string, unknown> {
  const file = join(__dirname, '..', 'cdk.json');
  return (JSON.parse(readFileSync(file, 'utf8')) as { context?: Record<string, unknown> }).context ?? {};
}

/** `context` adds to cdk.json's (tests: `aws:cdk:bundling-stacks`, the example's `berth:*` keys). */
export function buildApp(props: { outdir?: string; context?: Record<string, unknown> } = {}): {
  app: App;
  stack: ExampleStack;
} {
  const app = new App({
    context: { ...cdkJsonContext(), ...props.context },
    ...(props.outdir ? { outdir: props.outdir } : {}),
  });
  const stack = new ExampleStack(app, 'BerthExample');
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack };
}

if (require.main === module) {
  buildApp().app.synth();
}
