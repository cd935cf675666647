export * from './log.js';
export * from './errors.js';
export * from './net.js';
export * from './subject-alt-names.js';
export * from './tls-defaults.js';
export * from './lrs-metrics.js';
