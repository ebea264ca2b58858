/**
 * berth's per-instance disk alarms: the names and definitions (alarm-names.ts, pure) and the
 * CloudWatch calls (lambdas/aws/alarms.ts), under the one path their importers already use.
 */
export * from './alarm-names';
export * from '../aws/alarms';
