import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { PerFilterConfigModel, PerFilterConfigsModel } from '../config/model.js';
import { compileRouteConfig, type RouteRequest } from './route-table.js';
import {
  TestHeaders,
  forward,
  route,
  routeConfig,
  routeMatch,
  sequence,
  virtualHost,
} from './route-fixtures.js';

const request: RouteRequest = {
  authority: 'example.com',
  path: '/',
  method: 'GET',
  headers: new TestHeaders(),
};

const config = (value: string): PerFilterConfigModel => ({
  config: { level: value },
  disabled: false,
});
const ENABLE: PerFilterConfigModel = { config: undefined, disabled: false };
const DISABLE: PerFilterConfigModel = { config: undefined, disabled: true };

interface Levels {
  config?: PerFilterConfigsModel;
  vhost?: PerFilterConfigsModel;
  route?: PerFilterConfigsModel;
  weighted?: PerFilterConfigsModel;
}

/** A table whose only route splits to cluster "w" (with the weighted level) and "other". */
function matchWith(levels: Levels, pick: number) {
  const table = compileRouteConfig(
    routeConfig(
      [
        virtualHost(
          'vh',
          ['*'],
          [
            route(
              routeMatch('prefix', '/'),
              forward({
                weightedClusters: [
                  {
                    name: 'w',
                    weight: 1,
                    mutations: {
                      requestHeadersToAdd: [],
                      requestHeadersToRemove: [],
                      responseHeadersToAdd: [],
                      responseHeadersToRemove: [],
                    },
                    ...(levels.weighted ? { typedPerFilterConfig: levels.weighted } : {}),
                  },
                  {
                    name: 'other',
                    weight: 1,
                    mutations: {
                      requestHeadersToAdd: [],
                      requestHeadersToRemove: [],
                      responseHeadersToAdd: [],
                      responseHeadersToRemove: [],
                    },
                  },
                ],
              }),
              levels.route ? { typedPerFilterConfig: levels.route } : {},
            ),
          ],
          levels.vhost ? { typedPerFilterConfig: levels.vhost } : {},
        ),
      ],
      levels.config ? { typedPerFilterConfig: levels.config } : {},
    ),
    { random: sequence([pick]) },
  );
  return table.match(request)!;
}

describe('RouteMatchResult.perFilterConfig', () => {
  const all: Levels = {
    config: { f: config('config') },
    vhost: { f: config('vhost') },
    route: { f: config('route') },
    weighted: { f: config('weighted') },
  };

  test('most specific wins: weighted cluster > route > virtual host > route configuration', () => {
    const table: Array<[string, Levels, number, unknown]> = [
      ['all levels, weighted entry picked', all, 0, { level: 'weighted' }],
      ['all levels, other cluster picked', all, 0.9, { level: 'route' }],
      ['no route level', { config: all.config, vhost: all.vhost }, 0.9, { level: 'vhost' }],
      ['route configuration only', { config: all.config }, 0.9, { level: 'config' }],
    ];
    for (const [name, levels, pick, expected] of table)
      assert.deepEqual(matchWith(levels, pick).perFilterConfig('f')?.config, expected, name);
    assert.equal(matchWith({}, 0).perFilterConfig('f'), undefined);
    assert.equal(matchWith(all, 0).perFilterConfig('g'), undefined);
  });

  test('perFilterConfigs lists every level, most specific first', () => {
    assert.deepEqual(matchWith(all, 0).perFilterConfigs('f'), [
      { level: 'weighted' },
      { level: 'route' },
      { level: 'vhost' },
      { level: 'config' },
    ]);
    assert.deepEqual(matchWith(all, 0.9).perFilterConfigs('f'), [
      { level: 'route' },
      { level: 'vhost' },
      { level: 'config' },
    ]);
    assert.deepEqual(matchWith({}, 0).perFilterConfigs('f'), []);
  });

  test('disabled comes from the most specific entry; config from the most specific one that has one', () => {
    const disabledOnRoute = matchWith(
      { vhost: { f: config('vhost') }, route: { f: DISABLE } },
      0.9,
    );
    assert.deepEqual(disabledOnRoute.perFilterConfig('f'), {
      config: { level: 'vhost' },
      disabled: true,
    });
    const enabledAgain = matchWith(
      { config: { f: DISABLE }, route: { f: ENABLE }, weighted: { f: DISABLE } },
      0.9,
    );
    assert.deepEqual(enabledAgain.perFilterConfig('f'), { config: undefined, disabled: false });
    assert.equal(
      matchWith(
        { config: { f: DISABLE }, route: { f: ENABLE }, weighted: { f: DISABLE } },
        0,
      ).perFilterConfig('f')?.disabled,
      true,
    );
    assert.deepEqual(disabledOnRoute.perFilterConfigs('f'), [{ level: 'vhost' }]);
  });

  test('resolved once at compile time: the same object for every request', () => {
    const first = matchWith(all, 0.9);
    assert.equal(first.perFilterConfig('f'), first.perFilterConfig('f'));
    assert.equal(first.perFilterConfigs('f'), first.perFilterConfigs('f'));
  });
});
