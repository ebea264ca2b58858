/** `npm run demo`: berth's whole job on the local cloud with real btrfs on loop devices (issue 7). */
console.error(
  'npm run demo: the local demo arrives with issue 7; meanwhile run `npm run synth` or `npm test`.',
);
process.exit(1);
