/** Moved to lambdas/domain/growth-headroom.ts; this path stays for test/bench/reconcile.ts until it is repointed. */
export * from '../domain/growth-headroom';
