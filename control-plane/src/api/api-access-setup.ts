/**
 * The control plane's start-up decisions about management API access (docs/architecture.md, "API
 * authentication and roles"): whether the open loopback mode is allowed, whether binding off
 * loopback may go ahead, and the warnings an operator should see in the log.
 */
import { formatHostPort, isLoopback, type Logger } from '@ferry/shared';
import type { ApiTls } from './api-tls.js';
import { Authenticator } from './authenticator.js';
import type { ManagementService } from './management-service.js';

export interface ApiAccessOptions {
  readonly service: ManagementService;
  readonly logger: Logger;
  /** FERRY_API_TOKEN. */
  readonly bootstrapToken: string | undefined;
  /** The HTTP and gRPC API listen addresses. */
  readonly listeners: ReadonlyArray<{ host: string; port: number }>;
  readonly tls: ApiTls | undefined;
  /** The --store value, for the message telling how to create the first token. */
  readonly storeSpec: string;
}

/**
 * The authenticator both APIs share. Throws when an API would bind off loopback while no
 * credential exists at all (no token in the store, no FERRY_API_TOKEN): nobody could use it.
 */
export async function prepareApiAccess(options: ApiAccessOptions): Promise<Authenticator> {
  const { service, logger, bootstrapToken, tls } = options;
  const offLoopback = options.listeners.find((a) => !isLoopback(a.host));
  const authenticator = new Authenticator({
    tokens: service.tokens,
    ...(bootstrapToken ? { bootstrapToken } : {}),
    openOnLoopback: offLoopback === undefined && tls?.clientCa === undefined,
  });
  if (offLoopback && !bootstrapToken && !(await service.tokens.any())) {
    throw new Error(
      `refusing to bind the management API to ${offLoopback.host}: no API token exists yet; create one in the store first (ferry-control-plane token create NAME --role admin --store ${options.storeSpec}) or set FERRY_API_TOKEN (a bootstrap admin token)`,
    );
  }
  if (offLoopback && !tls) {
    logger.warn(
      { address: formatHostPort(offLoopback.host, offLoopback.port) },
      'management API bound off loopback without TLS: tokens cross the network in clear text; set --api-tls-cert and --api-tls-key',
    );
  }
  if (await authenticator.isOpen()) {
    logger.warn(
      'management API open on loopback: no API token exists, so requests without credentials act as admin "loopback"; create one (ferryctl token create) to require tokens',
    );
  }
  return authenticator;
}
