export * from './result.js';
export * from './resource-types.js';
export * from './registry.js';
export * from './json.js';
export * from './yaml.js';
export * from './canonical.js';
export * from './resource.js';
export { checkJson } from './json-check.js';
export { validateRules } from './validate-rules.js';
export { compileRe2 } from './re2.js';
export {
  compileLinearRe2,
  checkLinearRe2,
  fullMatchLiteralPrefix,
  Re2SyntaxError,
} from './re2-linear.js';
export type { LinearRegexOptions } from './re2-linear.js';
