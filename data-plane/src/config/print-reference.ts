/**
 * Prints docs/envoy-reference.md from the translation allow-lists:
 * `node data-plane/dist/config/print-reference.js > docs/envoy-reference.md`.
 */
import { renderEnvoyReference } from './envoy-reference.js';

process.stdout.write(renderEnvoyReference());
