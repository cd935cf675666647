/**
 * /config_dump in Envoy's shape (envoy.admin.v3.ConfigDump): one entry per resource kind, with
 * static resources from the bootstrap and dynamic ones as accepted over xDS, each as JSON with
 * its "@type". Resources are the accepted Envoy JSON, not the internal model, so an operator
 * can diff it against what they applied. Private keys and other key material are redacted, as
 * Envoy redacts them (redact.ts), in secrets and inline TLS contexts alike. A dynamic resource
 * whose latest update was rejected carries Envoy's `error_state` (UpdateFailureState) next to the
 * version it keeps serving; a rejected new one is listed with its error_state alone.
 */
import { CDS, EDS, LDS, RDS, SDS, type JsonObject, type ResourceSet } from '../xds/resource-set.js';
import type { RejectedResourceState } from '../xds/config-source.js';
import type { ConfigDumpSource } from './admin-sources.js';
import { redactSensitive } from './redact.js';

const ADMIN = 'type.googleapis.com/envoy.admin.v3.';

export interface ConfigDumpInput {
  readonly staticListeners: readonly JsonObject[];
  readonly staticClusters: readonly JsonObject[];
  /** The bootstrap's static_resources.secrets. */
  readonly staticSecrets?: readonly JsonObject[];
  /** Secret names subscribed to over SDS (those not received yet are warming). */
  readonly subscribedSecrets?: readonly string[];
  readonly resources: ResourceSet;
  /** When the static resources were loaded (process start). */
  readonly bootTime: string;
  /** The raw bootstrap, when available (BootstrapConfigDump). */
  readonly bootstrap?: JsonObject;
  /** Per type URL, the resources whose latest update was rejected. */
  readonly rejected?: ReadonlyMap<string, ReadonlyMap<string, RejectedResourceState>>;
}

function typed(typeUrl: string, json: JsonObject): JsonObject {
  return { '@type': typeUrl, ...json };
}

/** Envoy's admin UpdateFailureState of a rejected resource. */
function errorState(typeUrl: string, r: RejectedResourceState): JsonObject {
  return {
    ...(r.json ? { failed_configuration: typed(typeUrl, r.json) } : {}),
    last_update_attempt: r.at,
    details: r.errors.join('; '),
    version_info: r.version,
  };
}

function dynamic(
  set: ResourceSet,
  typeUrl: string,
  entry: (r: {
    name: string;
    json: JsonObject;
    version: string;
    lastUpdated: string;
  }) => JsonObject,
  rejected: ConfigDumpInput['rejected'],
  named = false,
): JsonObject[] {
  const failed = rejected?.get(typeUrl);
  const resources = set.get(typeUrl)?.resources;
  const out = [...(resources?.values() ?? [])].map((r) => {
    const failure = failed?.get(r.name);
    return {
      name: r.name,
      entry: {
        ...entry({
          name: r.name,
          json: typed(typeUrl, r.json),
          version: r.version,
          lastUpdated: r.lastUpdated,
        }),
        ...(failure ? { error_state: errorState(typeUrl, failure) } : {}),
      },
    };
  });
  for (const failure of failed?.values() ?? [])
    if (!resources?.has(failure.name))
      out.push({
        name: failure.name,
        entry: {
          ...(named ? { name: failure.name } : {}),
          error_state: errorState(typeUrl, failure),
        },
      });
  return out.sort((a, b) => a.name.localeCompare(b.name)).map((e) => e.entry);
}

export function buildConfigDump(input: ConfigDumpInput): JsonObject {
  const { resources: set, bootTime, rejected } = input;
  const configs: JsonObject[] = [];
  if (input.bootstrap)
    configs.push({
      '@type': `${ADMIN}BootstrapConfigDump`,
      bootstrap: input.bootstrap,
      last_updated: bootTime,
    });
  configs.push({
    '@type': `${ADMIN}ClustersConfigDump`,
    version_info: set.get(CDS)?.version ?? '',
    static_clusters: input.staticClusters.map((c) => ({
      cluster: typed(CDS, c),
      last_updated: bootTime,
    })),
    dynamic_active_clusters: dynamic(
      set,
      CDS,
      (r) => ({
        version_info: r.version,
        cluster: r.json,
        last_updated: r.lastUpdated,
      }),
      rejected,
    ),
  });
  configs.push({
    '@type': `${ADMIN}EndpointsConfigDump`,
    static_endpoint_configs: [],
    dynamic_endpoint_configs: dynamic(
      set,
      EDS,
      (r) => ({
        version_info: r.version,
        endpoint_config: r.json,
        last_updated: r.lastUpdated,
      }),
      rejected,
    ),
  });
  configs.push({
    '@type': `${ADMIN}ListenersConfigDump`,
    version_info: set.get(LDS)?.version ?? '',
    static_listeners: input.staticListeners.map((l) => ({
      listener: typed(LDS, l),
      last_updated: bootTime,
    })),
    dynamic_listeners: dynamic(
      set,
      LDS,
      (r) => ({
        name: r.name,
        active_state: { version_info: r.version, listener: r.json, last_updated: r.lastUpdated },
      }),
      rejected,
      true,
    ),
  });
  configs.push({
    '@type': `${ADMIN}RoutesConfigDump`,
    static_route_configs: [],
    dynamic_route_configs: dynamic(
      set,
      RDS,
      (r) => ({
        version_info: r.version,
        route_config: r.json,
        last_updated: r.lastUpdated,
      }),
      rejected,
    ),
  });
  const active = set.get(SDS)?.resources;
  configs.push({
    '@type': `${ADMIN}SecretsConfigDump`,
    static_secrets: (input.staticSecrets ?? []).map((secret) => ({
      name: secret.name,
      last_updated: bootTime,
      secret: typed(SDS, secret),
    })),
    dynamic_active_secrets: dynamic(
      set,
      SDS,
      (r) => ({
        name: r.name,
        version_info: r.version,
        last_updated: r.lastUpdated,
        secret: r.json,
      }),
      rejected,
      true,
    ),
    dynamic_warming_secrets: (input.subscribedSecrets ?? [])
      .filter((name) => !active?.has(name))
      .map((name) => ({ name })),
  });
  return redactSensitive({ configs }) as JsonObject;
}

/** The dump of the resources in force: the bootstrap's static ones and those accepted over xDS. */
export class ConfigDump implements ConfigDumpSource {
  constructor(
    private readonly input: Omit<
      ConfigDumpInput,
      'resources' | 'subscribedSecrets' | 'rejected'
    > & {
      /** The resource set accepted so far (it is replaced, not mutated, on each update). */
      readonly resources: () => ResourceSet;
      readonly subscribedSecrets?: () => readonly string[];
      readonly rejected?: () => ConfigDumpInput['rejected'];
    },
  ) {}

  dump(): JsonObject {
    const { resources, subscribedSecrets, rejected, ...rest } = this.input;
    const failed = rejected?.();
    return buildConfigDump({
      ...rest,
      resources: resources(),
      subscribedSecrets: subscribedSecrets?.() ?? [],
      ...(failed ? { rejected: failed } : {}),
    });
  }
}
