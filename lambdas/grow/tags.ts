/** Moved to lambdas/domain/growth-tags.ts; this path stays for the launch-owned modules until they move. */
export * from '../domain/growth-tags';
