/**
 * What feeds the event hub: store revisions become `store` events with their actor and time
 * (internal records none), rollout records `rollout` events, and health changes `health` events.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { jsonToBinary, parseResourceJson } from '@ferry/proto';
import { MemoryStore } from '../../store/store-memory.js';
import { cluster } from '../../validation/test-fixtures.js';
import { HealthAggregate } from '../../health/health-aggregate.js';
import { DEFAULT_GATES, rolloutMutation } from '../../rollout/rollout-record.js';
import { API_TOKEN_TYPE, INTERNAL_GROUP } from '../api-tokens.js';
import { IN_PROCESS_CALLER } from '../access.js';
import { EventHub, type EventSubscriber } from './event-hub.js';
import { EventSources, healthEvent } from './event-sources.js';

const BOUND_MS = 10_000;

class Collector implements EventSubscriber {
  readonly caller = IN_PROCESS_CALLER;
  readonly events: Array<{ type: string; data: Record<string, unknown> }> = [];
  send(frame: string): boolean {
    if (frame.startsWith(':')) return true;
    const [, type, data] = frame.trimEnd().split('\n');
    this.events.push({
      type: type!.slice('event: '.length),
      data: JSON.parse(data!.slice('data: '.length)) as Record<string, unknown>,
    });
    return true;
  }
  close(): void {}
  async until(n: number): Promise<void> {
    const deadline = Date.now() + BOUND_MS;
    while (this.events.length < n && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 5));
    assert.ok(this.events.length >= n, `${this.events.length} of ${n} events`);
  }
}

function put(doc: Record<string, unknown>, group: string) {
  const parsed = parseResourceJson(doc);
  assert.ok(parsed.ok);
  return {
    op: 'put' as const,
    typeUrl: parsed.value.type.typeUrl,
    group,
    name: parsed.value.name,
    value: parsed.value.bytes,
    version: parsed.value.version,
  };
}

describe('event sources', () => {
  test('a revision is one store event per group it changed, with actor, time and message', async () => {
    const store = new MemoryStore();
    const hub = new EventHub();
    const sources = new EventSources({ hub, store });
    await store.apply([put(cluster('before'), 'web')]);
    await sources.start();
    const c = new Collector();
    hub.subscribe(c, undefined);
    const token = jsonToBinary('google.protobuf.Empty', {});
    assert.ok(token.ok);
    await store.apply(
      [
        put(cluster('w1'), 'web'),
        put(cluster('a1'), 'api'),
        {
          op: 'delete',
          typeUrl: cluster('before')['@type'] as string,
          group: 'web',
          name: 'before',
        },
        // Not configuration: no event.
        {
          op: 'put',
          typeUrl: API_TOKEN_TYPE,
          group: INTERNAL_GROUP,
          name: 't',
          value: token.value,
          version: 'x',
        },
      ],
      { actor: 'ci-web', message: 'deploy 7' },
    );
    await c.until(2);
    const [web, api] = c.events;
    assert.equal(web?.type, 'store');
    assert.deepEqual(
      { ...web?.data, at: typeof web?.data.at },
      {
        revision: 2,
        group: 'web',
        actor: 'ci-web',
        at: 'string',
        message: 'deploy 7',
        changes: [
          { type: 'Cluster', type_url: cluster('w1')['@type'], name: 'w1', action: 'put' },
          { type: 'Cluster', type_url: cluster('w1')['@type'], name: 'before', action: 'delete' },
        ],
      },
    );
    assert.equal(api?.data.group, 'api');
    assert.equal(c.events.length, 2, 'the token record made no event');
    sources.close();
    hub.close();
  });

  test('a rollout record written is a rollout event as GET /v1/rollouts shows it', async () => {
    const store = new MemoryStore();
    const hub = new EventHub();
    const sources = new EventSources({ hub, store });
    await sources.start();
    const c = new Collector();
    hub.subscribe(c, undefined);
    const now = Date.parse('2026-01-01T00:00:00Z');
    await store.apply([
      rolloutMutation({
        name: 'rollout-3',
        group: 'web',
        state: 'PROGRESSING',
        changes: [],
        stages: [{ count: 1 }, { percent: 100 }],
        selectors: [],
        bakeMs: 30_000,
        gates: DEFAULT_GATES,
        stage: 0,
        updatedNodes: ['p1'],
        stageStartedAt: now,
        reason: 'started',
        createdBy: 'ops',
        createdAt: now,
        updatedAt: now,
        message: '',
        baseRevision: 2,
      }),
    ]);
    await c.until(1);
    assert.equal(c.events[0]?.type, 'rollout');
    const r = c.events[0]?.data ?? {};
    assert.deepEqual(
      [r.name, r.group, r.state, r.stages, r.updated_nodes, r.bake],
      ['rollout-3', 'web', 'PROGRESSING', ['1', '100%'], ['p1'], '30s'],
    );
    sources.close();
    hub.close();
  });

  test('health changes of a cluster become one health event, and its end a gone one', async () => {
    const health = new HealthAggregate();
    const hub = new EventHub({
      coalesceMs: 3_600_000,
      health: (group, cluster) => healthEvent(health, group, cluster),
    });
    const sources = new EventSources({ hub, store: new MemoryStore(), health });
    await sources.start();
    const c = new Collector();
    hub.subscribe(c, undefined);
    health.report('p1', 'web', [{ cluster: 'backend', endpoints: new Map([['a:1', 'HEALTHY']]) }]);
    health.report('p2', 'web', [
      { cluster: 'backend', endpoints: new Map([['a:1', 'UNHEALTHY']]) },
    ]);
    health.report('p2', 'web', [
      { cluster: 'backend', endpoints: new Map([['a:1', 'UNHEALTHY']]) },
    ]);
    hub.flush();
    assert.equal(c.events.length, 1);
    const endpoints = c.events[0]!.data.endpoints as Array<Record<string, unknown>>;
    assert.deepEqual(
      [
        c.events[0]!.data.cluster,
        endpoints[0]?.status,
        endpoints[0]?.healthy,
        endpoints[0]?.unhealthy,
      ],
      ['backend', 'MIXED', 1, 1],
    );
    health.forget('p1');
    health.forget('p2');
    hub.flush();
    assert.deepEqual(c.events[1]?.data, {
      group: 'web',
      cluster: 'backend',
      endpoints: [],
      gone: true,
    });
    sources.close();
    hub.close();
  });
});
