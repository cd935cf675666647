/**
 * typed_per_filter_config resolved for one route selection (RouteMatchResult.perFilterConfig /
 * perFilterConfigs). Built once per route (and per weighted cluster entry) when the route table
 * is compiled, so a lookup is one Map probe.
 *
 * Envoy's rules (source/common/router/config_impl.cc, PerFilterConfigs): the most specific level
 * that has an entry for a filter decides whether it is disabled; its config is the most specific
 * entry that carries one; getAllPerFilterConfig lists every level's config.
 */
import type { PerFilterConfigModel, PerFilterConfigsModel } from '../config/model.js';

interface ResolvedFilterConfig {
  readonly resolved: PerFilterConfigModel;
  /** Configs of every level that has one, most specific first. */
  readonly configs: readonly unknown[];
}

const NO_CONFIGS: readonly unknown[] = Object.freeze([]);

export class PerFilterConfigIndex {
  static readonly EMPTY = new PerFilterConfigIndex(new Map());

  private constructor(private readonly byName: ReadonlyMap<string, ResolvedFilterConfig>) {}

  /** `levels` innermost first; absent levels (no typed_per_filter_config) are skipped. */
  static of(levels: readonly (PerFilterConfigsModel | undefined)[]): PerFilterConfigIndex {
    const present = levels.filter((level): level is PerFilterConfigsModel => level !== undefined);
    const names = new Set(present.flatMap((level) => Object.keys(level)));
    if (names.size === 0) return PerFilterConfigIndex.EMPTY;
    const byName = new Map<string, ResolvedFilterConfig>();
    for (const name of names) {
      const entries = present.flatMap((level) =>
        Object.hasOwn(level, name) ? [level[name]!] : [],
      );
      const configs = Object.freeze(
        entries.filter((entry) => entry.config !== undefined).map((entry) => entry.config),
      );
      byName.set(name, {
        resolved: Object.freeze({ config: configs[0], disabled: entries[0]!.disabled }),
        configs,
      });
    }
    return new PerFilterConfigIndex(byName);
  }

  resolved(filterName: string): PerFilterConfigModel | undefined {
    return this.byName.get(filterName)?.resolved;
  }

  configs(filterName: string): readonly unknown[] {
    return this.byName.get(filterName)?.configs ?? NO_CONFIGS;
  }
}
