export * from './result.js';
export * from './resource-types.js';
export * from './registry.js';
export * from './json.js';
export * from './yaml.js';
export * from './canonical.js';
export * from './resource.js';
export { checkJson } from './json-check.js';
