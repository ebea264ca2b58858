/** The reconcile handler (entry point bundled by the infra). Being built: see the lifecycle/grow issues. */
export async function handler(_event: unknown): Promise<never> {
  throw new Error('berth reconcile handler: not built yet');
}
