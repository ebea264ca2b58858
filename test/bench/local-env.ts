/**
 * The environment every benchmark runs in: the local cloud's region and credentials (never a real
 * account), silent logs and metrics, no SDK Node-version notice. Set before the Lambda modules load
 * (their SDK clients are built at import), so benchmarks import those modules lazily after this.
 */
export function useLocalCloudEnv(): void {
  process.env.AWS_REGION ??= 'eu-west-1';
  process.env.AWS_ACCESS_KEY_ID ??= 'AKIALOCALCLOUD';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'local-cloud-secret';
  process.env.POWERTOOLS_LOG_LEVEL ??= 'SILENT';
  process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
}
