/**
 * Where the host-step leases live in Parameter Store (lambdas/aws/lease.ts): one String
 * parameter per (document, instance) while a run decides to send that document to that instance.
 * Import-free: the Lambdas and the IAM statements (infra/permissions.ts) read it from here.
 */

/** Every lease of one of berth's documents: `/berth/lease/<document name>/` (the name is per group). */
export function leasePrefix(documentName: string): string {
  return `/berth/lease/${documentName}/`;
}

/** The lease of one document on one instance. */
export function leaseParameterName(documentName: string, instanceId: string): string {
  return `${leasePrefix(documentName)}${instanceId}`;
}
