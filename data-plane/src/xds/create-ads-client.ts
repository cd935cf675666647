/**
 * Picks the ADS variant the bootstrap asks for (`ads_config.api_type`): GRPC is
 * state-of-the-world (ads-client.ts), DELTA_GRPC incremental (delta-ads-client.ts). Both take
 * the same handler (ConfigSource) and are driven the same way by the primary.
 */
import {
  AdsClient,
  type AdsClientOptions,
  type DeltaAdsHandler,
  type XdsStreamClient,
} from './ads-client.js';
import { DeltaAdsClient } from './delta-ads-client.js';

export function createAdsClient(
  apiType: string,
  options: Omit<AdsClientOptions, 'handler'> & { readonly handler: DeltaAdsHandler },
): XdsStreamClient {
  return apiType === 'DELTA_GRPC' ? new DeltaAdsClient(options) : new AdsClient(options);
}
