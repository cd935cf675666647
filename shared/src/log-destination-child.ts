/**
 * Child process of log-destination.test.ts (not a test itself): a process that logs through
 * createLogger and shuts down the way Ferry's servers do (log, flushLogs, process.exit).
 *
 * Usage: node log-destination-child.js lines N   log N lines, flush, exit 0
 *        node log-destination-child.js sigterm   log "ready", then on SIGTERM log, flush, exit 0
 */
import { createLogger, flushLogs } from './log.js';

const logger = createLogger('log-destination-child', 'info');
const [mode, count] = process.argv.slice(2);
// The parent holds our stdin open; it closing means the parent is gone.
process.stdin.on('end', () => process.exit(3));
process.stdin.resume();

if (mode === 'lines') {
  const padding = 'x'.repeat(400);
  for (let i = 0; i < Number(count); i++) logger.info({ i, padding }, 'line');
  await flushLogs(1000);
  process.exit(0);
} else if (mode === 'sigterm') {
  process.on('SIGTERM', () => {
    logger.info('shutting down');
    logger.info('stopped');
    void flushLogs().then(() => process.exit(0));
  });
  logger.info('ready');
} else {
  process.stderr.write('usage: log-destination-child.js lines N | sigterm\n');
  process.exit(2);
}
