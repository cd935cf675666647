/** UpstreamTlsModel builders for tests. Test-only. */
import type { UpstreamTlsModel } from '../config/model.js';

/** TLS without any verification (no validation_context), Envoy's defaults otherwise. */
export function plainTlsModel(extra: Partial<UpstreamTlsModel> = {}): UpstreamTlsModel {
  return {
    sni: '',
    alpnProtocols: [],
    minVersion: 'TLSv1.2',
    maxVersion: 'TLSv1.2',
    cipherSuites: [],
    sanMatchers: [],
    certificateHashes: [],
    spkiHashes: [],
    ...extra,
  };
}
