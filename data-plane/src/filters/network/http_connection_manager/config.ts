/**
 * Registry entry of envoy.filters.network.http_connection_manager, the terminal filter of HTTP
 * chains. Its config translation lives in config/translate-hcm.ts (HttpConnectionManagerModel);
 * its runtime is the request path's connection manager, which the worker plugs in through
 * NetworkFilterFactoryContext.httpConnectionManager. Without one, the listener hands the
 * connection to its node:http / node:http2 servers (http/http-hand-off.ts).
 */
import type { TerminalFilterFactory } from '../filter.js';
import type { HttpConnectionManagerModel } from '../../../config/model.js';
import { HCM_NAME, HCM_SPECS, HCM_TYPE_URL, translateHcm } from '../../../config/translate-hcm.js';

export const httpConnectionManagerFilter: TerminalFilterFactory<HttpConnectionManagerModel> = {
  typeUrl: HCM_TYPE_URL,
  names: [HCM_NAME],
  terminal: 'http',
  note: 'HTTP/1.1, h2c and HTTP/2 over TLS; routes, HTTP filters, access logs, tracing',
  specs: HCM_SPECS,
  validate: (config, path, issues, options) => translateHcm(config, path, issues, options),
  createTerminal(config, chain, context) {
    return context.httpConnectionManager?.(config, chain);
  },
};
