/**
 * Builders of route config models for tests (here and in the request path's tests): every field
 * gets Envoy's default so a test states only what it is about.
 */
import type {
  ForwardActionModel,
  HeaderMutationsModel,
  RouteActionModel,
  RouteConfigModel,
  RouteMatchModel,
  RouteModel,
  VirtualHostModel,
} from '../config/model.js';

export const NO_MUTATIONS: HeaderMutationsModel = {
  requestHeadersToAdd: [],
  requestHeadersToRemove: [],
  responseHeadersToAdd: [],
  responseHeadersToRemove: [],
};

export function routeMatch(
  kind: RouteMatchModel['kind'],
  value: string,
  extra: Partial<RouteMatchModel> = {},
): RouteMatchModel {
  return {
    kind,
    value,
    caseSensitive: true,
    headers: [],
    queryParameters: [],
    grpc: false,
    ...extra,
  };
}

export function forward(extra: Partial<ForwardActionModel> = {}): ForwardActionModel {
  return {
    kind: 'route',
    autoHostRewrite: false,
    timeoutMs: 15000,
    idleTimeoutMs: 0,
    hashPolicy: [],
    upgradeTypes: [],
    ...extra,
  };
}

export function route(
  match: RouteMatchModel,
  action: RouteActionModel | string,
  extra: Partial<RouteModel> = {},
): RouteModel {
  return {
    name: '',
    ...NO_MUTATIONS,
    match,
    action: typeof action === 'string' ? forward({ cluster: action }) : action,
    ...extra,
  };
}

export function virtualHost(
  name: string,
  domains: string[],
  routes: RouteModel[],
  extra: Partial<VirtualHostModel> = {},
): VirtualHostModel {
  return { name, ...NO_MUTATIONS, domains, routes, requireTls: 'NONE', ...extra };
}

export function routeConfig(
  virtualHosts: VirtualHostModel[],
  extra: Partial<RouteConfigModel> = {},
): RouteConfigModel {
  return { name: 'routes', ...NO_MUTATIONS, virtualHosts, ...extra };
}

/** A header map for tests: lower-case names, repeated values joined by ','. */
export class TestHeaders {
  readonly map = new Map<string, string>();
  constructor(init: Record<string, string> = {}) {
    for (const [k, v] of Object.entries(init)) this.map.set(k.toLowerCase(), v);
  }
  get(name: string): string | undefined {
    return this.map.get(name);
  }
  set(name: string, value: string): void {
    this.map.set(name, value);
  }
  append(name: string, value: string): void {
    const current = this.map.get(name);
    this.map.set(name, current === undefined ? value : `${current},${value}`);
  }
  remove(name: string): void {
    this.map.delete(name);
  }
}

/** Deterministic [0, 1) sequence: values[i] in turn, cycling. */
export function sequence(values: readonly number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length]!;
}
