/**
 * `npm run demo [-- --keep] [-- --seed N]`: berth's whole job on this machine, with no AWS account.
 * A local cloud hosts a group of 4 instances over 3 AZs and 3 NodeID sets; the real Lambda handlers
 * react to its lifecycle and alarm events; its SSM runs the real agent scripts here, on loop devices
 * that stand for the EBS volumes. Prints a timeline, checks the four claims, prints a summary table
 * and exits non-zero if a claim failed (2 without root or with a bad option).
 */

// Before any handler module loads (their loggers and clients read the environment at import):
// the local cloud only, quiet Lambda logs (the timeline tells the story; POWERTOOLS_LOG_LEVEL=INFO
// shows them), no EMF metric lines on stdout.
process.env.AWS_REGION = 'eu-west-1';
process.env.AWS_ACCESS_KEY_ID = 'AKIALOCALCLOUD';
process.env.AWS_SECRET_ACCESS_KEY = 'local-cloud-secret';
delete process.env.AWS_SESSION_TOKEN;
delete process.env.AWS_PROFILE;
process.env.POWERTOOLS_LOG_LEVEL ??= 'SILENT';
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

import('./main')
  .then(({ main }) => main(process.argv.slice(2)))
  .then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
