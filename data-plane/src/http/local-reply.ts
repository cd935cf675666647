/**
 * Bodies of the responses the proxy writes itself (no route, upstream failures, timeouts), Envoy's
 * text, so clients and tests that know Envoy see the same.
 */
export const LOCAL_REPLY_BODY = {
  noHealthyUpstream: 'no healthy upstream',
  connectFailure:
    'upstream connect error or disconnect/reset before headers. reset reason: connection failure',
  reset:
    'upstream connect error or disconnect/reset before headers. reset reason: connection termination',
  overflow: 'upstream connect error or disconnect/reset before headers. reset reason: overflow',
  remoteReset:
    'upstream connect error or disconnect/reset before headers. reset reason: remote reset',
  timeout: 'upstream request timeout',
  noCluster: 'cluster not found',
  protocolError:
    'upstream connect error or disconnect/reset before headers. reset reason: protocol error',
  streamTimeout: 'stream timeout',
  headersTooLarge: '',
  overloaded: 'envoy overloaded',
} as const;
