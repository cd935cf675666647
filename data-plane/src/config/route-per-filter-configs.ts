/**
 * The typed_per_filter_config entries one HttpFilter name has in a route configuration, at every
 * level (RouteConfiguration, VirtualHost, Route, WeightedCluster.ClusterWeight), with the field
 * path of each. Used where a filter's config and its per-route configs must be checked or
 * prepared together (translate.ts at translation, the workers at config apply).
 */
import type { PerFilterConfigsModel, RouteConfigModel } from './model.js';

/** A per-route config of one filter and where it is (a path under the route configuration). */
export interface PerFilterConfigAt {
  readonly config: unknown;
  readonly path: string;
}

function entryOf(
  level: PerFilterConfigsModel | undefined,
  filterName: string,
  path: string,
  out: PerFilterConfigAt[],
): void {
  const entry = level?.[filterName];
  if (entry === undefined || entry.config === undefined) return;
  out.push({ config: entry.config, path: `${path}typed_per_filter_config["${filterName}"]` });
}

/** The per-route configs (with a config message) of HttpFilter `filterName` in `routeConfig`. */
export function perFilterConfigsOf(
  routeConfig: RouteConfigModel,
  filterName: string,
): PerFilterConfigAt[] {
  const out: PerFilterConfigAt[] = [];
  entryOf(routeConfig.typedPerFilterConfig, filterName, '', out);
  routeConfig.virtualHosts.forEach((vh, v) => {
    const vhPath = `virtual_hosts[${v}].`;
    entryOf(vh.typedPerFilterConfig, filterName, vhPath, out);
    vh.routes.forEach((route, r) => {
      const routePath = `${vhPath}routes[${r}].`;
      entryOf(route.typedPerFilterConfig, filterName, routePath, out);
      if (route.action.kind !== 'route') return;
      route.action.weightedClusters?.forEach((wc, w) =>
        entryOf(
          wc.typedPerFilterConfig,
          filterName,
          `${routePath}route.weighted_clusters.clusters[${w}].`,
          out,
        ),
      );
    });
  });
  return out;
}
