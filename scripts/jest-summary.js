// Prints jest's JSON result as the one closing line CI reads: "N passed, N failed[, N skipped]".
const file = process.argv[2] || '.jest-results.json';
const r = require(require('path').resolve(file));
const skipped = r.numPendingTests + (r.numTodoTests || 0);
const ran = r.numPassedTests + r.numFailedTests;
console.log(
  `${r.numPassedTests} passed, ${r.numFailedTests} failed` + (skipped ? `, ${skipped} skipped` : ''),
);
if (ran === 0) process.exitCode = 1;
