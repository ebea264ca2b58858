/**
 * How berth's handlers are bundled: one place, read by the CDK wrapper (infra/berth-function.ts),
 * by `npm run build` (scripts/bundle.ts, which prebuilds the bundles the published package ships)
 * and by `npm run bench -- bundles`, so that what is measured is what `cdk deploy` ships.
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
 */
export const BUNDLE_AWS_SDK = true;

/** What the Node.js Lambda runtime provides (its copy of the SDK v3 and its Smithy core). */
export const RUNTIME_PROVIDED_MODULES = ['@aws-sdk/*', '@smithy/*'] as const;

/** Modules left out of a bundle: none when the SDK is bundled, else the runtime's. */
export function externalModules(bundleAwsSdk: boolean): string[] {
  return bundleAwsSdk ? [] : [...RUNTIME_PROVIDED_MODULES];
}

/** The choices that shape a bundle; everything else is fixed in esbuildOptions. */
export interface BundleChoices {
  /** Bundle the pinned SDK (true) or leave it to the Lambda runtime's copy (false). */
  readonly bundleAwsSdk: boolean;
  /**
   * `false`: no source map at all (the default: a map of the bundled SDK is ~7 MB in every asset
   * and Node parses it at start when `--enable-source-maps` is on). `true`: an external
   * `index.js.map` beside the bundle, which the function reads with `--enable-source-maps`.
   */
  readonly sourceMaps: boolean;
  readonly minify: boolean;
  /**
   * package.json fields esbuild resolves, in order. `module` first picks the SDK's ES module
   * builds (`dist-es`), which esbuild can tree-shake to the commands a handler imports; `main`
   * first picks the CommonJS builds, which keep every command of a client.
   */
  readonly mainFields: readonly string[];
}

/** What berth ships: minified, ESM-first resolution, SDK bundled, no source map. */
export const BUNDLE_CHOICES: BundleChoices = {
  bundleAwsSdk: BUNDLE_AWS_SDK,
  sourceMaps: false,
  minify: true,
  mainFields: ['module', 'main'],
};

/**
 * The choices berth shipped before issue 14 (a linked source map, esbuild's node default
 * resolution `main,module`), kept only so that `npm run bench -- bundles` can compare in one run.
 */
export const PREVIOUS_BUNDLE_CHOICES: BundleChoices = {
  bundleAwsSdk: BUNDLE_AWS_SDK,
  sourceMaps: true,
  minify: true,
  mainFields: ['main', 'module'],
};

/** Fixed for every bundle: Node.js 22 on Lambda, CommonJS output (the handler is `index.handler`). */
export const BUNDLE_TARGET = { target: 'node22', platform: 'node', format: 'cjs' } as const;

/** The entry file of a handler, relative to the project root. */
export function handlerEntry(name: HandlerName): string {
  return `lambdas/${name}/index.ts`;
}

/**
 * The complete esbuild options for one handler: what the construct, the bundle script and the
 * bundles benchmark run. `choices` overrides BUNDLE_CHOICES field by field.
 */
export function esbuildOptions(entry: string, outfile: string, choices: Partial<BundleChoices> = {}) {
  const c: BundleChoices = { ...BUNDLE_CHOICES, ...choices };
  return {
    entryPoints: [entry],
    bundle: true,
    platform: BUNDLE_TARGET.platform,
    target: BUNDLE_TARGET.target,
    format: BUNDLE_TARGET.format,
    minify: c.minify,
    // 'external' writes index.js.map without a sourceMappingURL comment; 'linked' adds the comment
    // that --enable-source-maps follows. No map is ever inlined into index.js.
    sourcemap: c.sourceMaps ? ('linked' as const) : false,
    mainFields: [...c.mainFields],
    external: externalModules(c.bundleAwsSdk),
    outfile,
    logLevel: 'warning' as const,
  };
}
