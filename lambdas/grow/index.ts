/** The grow handler (entry point bundled by the infra). Being built: see the lifecycle/grow issues. */
export async function handler(_event: unknown): Promise<never> {
  throw new Error('berth grow handler: not built yet');
}
