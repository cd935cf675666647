/**
 * What the primary derives from its bootstrap and command line before anything runs: the
 * control planes' addresses, listener ports shifted by --listener-port-offset, and the default
 * state directory. Pure functions; process.test.ts covers them.
 */
import path from 'node:path';
import { formatHostPort } from '@ferry/shared';
import type { ProxyConfig } from '../config/model.js';
import type { JsonObject } from '../xds/resource-set.js';
import type { XdsTlsModel } from '../xds/xds-transport.js';
import type { XdsEndpoint } from '../xds/xds-endpoints.js';
import type { XdsKeepalive } from '../xds/xds-keepalive.js';
import type { OverloadModel } from '../config/translate-overload.js';

/** The bootstrap as the primary needs it (config/bootstrap.ts's BootstrapModel satisfies it). */
export interface PrimaryBootstrap {
  readonly node: { readonly id: string; readonly cluster: string; readonly metadata?: unknown };
  readonly admin?: { readonly host: string; readonly port: number };
  readonly staticListeners: readonly unknown[];
  readonly staticClusters: readonly unknown[];
  readonly staticSecrets?: readonly unknown[];
  readonly ads?: {
    readonly clusterName: string;
    readonly apiType: string;
    /** The xDS cluster's TLS (../xds/xds-transport.ts); absent = plaintext. */
    readonly tls?: XdsTlsModel;
    /** The xDS cluster's HTTP/2 keepalive (../xds/xds-keepalive.ts); absent = no PINGs. */
    readonly keepalive?: XdsKeepalive;
  };
  /** overload_manager, handed to every worker. */
  readonly overload?: OverloadModel;
}

/**
 * The control planes: every socket_address endpoint of the static cluster the ADS config names,
 * with its locality's priority (../xds/xds-endpoints.ts picks among them).
 */
export function adsEndpoints(
  clusters: readonly JsonObject[],
  clusterName: string,
): { ok: true; endpoints: XdsEndpoint[] } | { ok: false; error: string } {
  const cluster = clusters.find((c) => c.name === clusterName);
  if (!cluster)
    return {
      ok: false,
      error: `dynamic_resources.ads_config names cluster "${clusterName}", which is not in static_resources.clusters`,
    };
  const la = cluster.load_assignment as JsonObject | undefined;
  const localities = (la?.endpoints as JsonObject[] | undefined) ?? [];
  const endpoints: XdsEndpoint[] = [];
  for (const locality of localities) {
    const priority = Number(locality.priority ?? 0);
    for (const lb of (locality.lb_endpoints as JsonObject[] | undefined) ?? []) {
      const sa = ((lb.endpoint as JsonObject | undefined)?.address as JsonObject | undefined)
        ?.socket_address as JsonObject | undefined;
      if (sa && typeof sa.address === 'string') {
        const port = Number(sa.port_value ?? 0);
        endpoints.push({ target: formatHostPort(sa.address, port), priority });
      }
    }
  }
  if (endpoints.length > 0) return { ok: true, endpoints };
  return {
    ok: false,
    error: `static cluster "${clusterName}" (the ADS cluster) has no socket_address endpoint in load_assignment`,
  };
}

/** Shifts every listener port by `offset` (--listener-port-offset); port 0 stays 0. */
export function offsetListeners(config: ProxyConfig, offset: number): ProxyConfig {
  if (offset === 0) return config;
  return {
    ...config,
    listeners: config.listeners.map((l) => ({
      ...l,
      address: { ...l.address, port: l.address.port === 0 ? 0 : l.address.port + offset },
    })),
  };
}

/** `.ferry-proxy/<node id>` under the working directory, when --state-dir is not given. */
export function defaultStateDir(nodeId: string): string {
  return path.join(process.cwd(), '.ferry-proxy', safeDirName(nodeId));
}

/** A node id as a directory name: path separators and oddities become "_". */
function safeDirName(nodeId: string): string {
  return nodeId.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_') || 'default';
}
