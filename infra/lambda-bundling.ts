/**
 * How berth's handlers are bundled: one place, read by the CDK wrapper (infra/berth-function.ts)
 * and by `npm run build` (scripts/bundle.ts), so that what CI measures is what `cdk deploy` ships.
 * Kept free of CDK imports so that the bundle script stays light.
 */

/** The handlers under lambdas/<name>/index.ts, each exporting `handler`. */
export const HANDLERS = ['launch', 'terminate', 'grow', 'reconcile'] as const;
export type HandlerName = (typeof HANDLERS)[number];

/**
 * Whether the pinned AWS SDK v3 clients (package-lock.json) go into the bundle.
 *
 * `true` (chosen): the code that runs in Lambda is the code the tests ran against the local cloud,
 * with the versions the lock file pins; the runtime's copy changes under us without a deploy.
 * `false`: smaller bundles and faster cold-start downloads, using the runtime's SDK.
 * Measuring both is a separate issue; flipping this one constant is all it takes.
 */
export const BUNDLE_AWS_SDK = true;

/** What the Node.js Lambda runtime provides (its copy of the SDK v3 and its Smithy core). */
export const RUNTIME_PROVIDED_MODULES = ['@aws-sdk/*', '@smithy/*'] as const;

/** Modules left out of a bundle: none when the SDK is bundled, else the runtime's. */
export function externalModules(bundleAwsSdk: boolean): string[] {
  return bundleAwsSdk ? [] : [...RUNTIME_PROVIDED_MODULES];
}

/** esbuild options shared by the construct and the bundle script. */
export const BUNDLE_OPTIONS = {
  /** Node 22 on Lambda. */
  target: 'node22',
  platform: 'node',
  format: 'cjs',
  minify: true,
  /** Source maps in the bundle; the function sets NODE_OPTIONS=--enable-source-maps. */
  sourcemap: true,
} as const;

/** The entry file of a handler, relative to the project root. */
export function handlerEntry(name: HandlerName): string {
  return `lambdas/${name}/index.ts`;
}

/** The complete esbuild options for one handler: what both the construct and the bundle script run. */
export function esbuildOptions(entry: string, outfile: string, bundleAwsSdk: boolean) {
  return {
    entryPoints: [entry],
    bundle: true,
    platform: BUNDLE_OPTIONS.platform,
    target: BUNDLE_OPTIONS.target,
    format: BUNDLE_OPTIONS.format,
    minify: BUNDLE_OPTIONS.minify,
    sourcemap: BUNDLE_OPTIONS.sourcemap,
    external: externalModules(bundleAwsSdk),
    outfile,
    logLevel: 'warning' as const,
  };
}
