/**
 * pino JSON logs with stable fields: `component` names the part that logs, `err` carries errors.
 * Secrets never go through here: callers log names and versions, never resource bodies. Every
 * logger writes to the process's one stdout destination (log-destination.ts), which never
 * blocks the process or its exit.
 */
import { pino, type Logger, type LevelWithSilent } from 'pino';
import { stdoutDestination } from './log-destination.js';

export type { Logger };
export { flushLogs } from './log-destination.js';

export function createLogger(component: string, level: LevelWithSilent = 'info'): Logger {
  return pino(
    {
      level: process.env.FERRY_LOG_LEVEL ?? level,
      base: { component, pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    stdoutDestination(),
  );
}
