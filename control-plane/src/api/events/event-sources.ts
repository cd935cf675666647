/**
 * What feeds the event hub: the store's watch (a `store` event per group a revision changed, a
 * `rollout` event per rollout record written), the fleet tracker's changes (`node`, `node_gone`)
 * and the health aggregate's (`health`). All pushed; nothing here polls.
 */
import type { EventEmitter } from 'node:events';
import { resourceTypeByUrl } from '@ferry/proto';
import type { Logger } from '@ferry/shared';
import type { HealthEventJson, NodeEventJson, StoreEventJson } from '@ferry/shared/api-wire';
import type { ManagementService } from '../management-service.js';
import { nodeSyncState } from '../nodes-page.js';
import { nodeStatusJson } from '../wire-json.js';
import { healthJson } from '../../health/health-json.js';
import type { ChangeEvent, HistoryEntry, ResourceStore, Watch } from '../../store/store.js';
import type { FleetTracker } from '../../xds/fleet.js';
import type { HealthStatusSource } from '../../health/health-aggregate.js';
import type { OutlierChangeEvents } from '../../load/outlier-ejections.js';
import { decodeRollout, ROLLOUT_TYPE, rolloutView } from '../../rollout/rollout-record.js';
import type { EventHub } from './event-hub.js';

/** History entries looked up at most at once for a burst of revisions. */
const HISTORY_LOOKUP_LIMIT = 1000;

export interface EventSourcesOptions {
  readonly hub: EventHub;
  readonly store: ResourceStore;
  readonly fleet?: FleetTracker;
  readonly health?: HealthStatusSource;
  /** The proxies' outlier ejections (load history), whose changes become `outlier` events. */
  readonly outliers?: { readonly changes: EventEmitter<OutlierChangeEvents> };
  readonly logger?: Logger;
}

/** Connects the sources; close() disconnects them. */
export class EventSources {
  private readonly hub: EventHub;
  private readonly store: ResourceStore;
  private readonly logger: Logger | undefined;
  private readonly detach: Array<() => void> = [];
  private watch: Watch | undefined;
  /** Revisions watched but not yet published, in order. */
  private queue: ChangeEvent[] = [];
  private draining = false;
  private closed = false;

  constructor(private readonly options: EventSourcesOptions) {
    this.hub = options.hub;
    this.store = options.store;
    this.logger = options.logger;
  }

  /** Starts following the store from its current revision and the fleet's and health's changes. */
  async start(): Promise<void> {
    const { fleet, health, hub } = this.options;
    if (fleet) {
      const change = (id: string): void => hub.nodeChanged(id);
      const gone = (id: string, group: string): void => hub.nodeGone(id, group);
      fleet.changes.on('change', change).on('gone', gone);
      this.detach.push(() => fleet.changes.off('change', change).off('gone', gone));
    }
    const changes = health?.changes;
    if (changes) {
      const cluster = (group: string, name: string): void => hub.healthChanged(group, name);
      changes.on('cluster', cluster);
      this.detach.push(() => changes.off('cluster', cluster));
    }
    const outliers = this.options.outliers?.changes;
    if (outliers) {
      const cluster = (group: string, name: string): void => hub.outlierChanged(group, name);
      outliers.on('cluster', cluster);
      this.detach.push(() => outliers.off('cluster', cluster));
    }
    const from = await this.store.currentRevision();
    if (this.closed) return;
    this.watch = this.store.watch(from, (event) => {
      this.queue.push(event);
      void this.drain();
    });
  }

  close(): void {
    this.closed = true;
    this.watch?.close();
    for (const d of this.detach.splice(0)) d();
    this.queue = [];
  }

  /** Publishes queued revisions in order, one history lookup per burst. */
  private async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    try {
      while (this.queue.length > 0 && !this.closed) {
        const batch = this.queue.splice(0, HISTORY_LOOKUP_LIMIT);
        const history = await this.history(batch);
        for (const event of batch) {
          if (this.closed) return;
          await this.publishRevision(event, history.get(event.revision));
        }
      }
    } finally {
      this.draining = false;
    }
  }

  /** Who made each revision of `batch` and when (history is newest first). */
  private async history(batch: readonly ChangeEvent[]): Promise<Map<number, HistoryEntry>> {
    const first = batch[0]!.revision;
    const found = new Map<number, HistoryEntry>();
    try {
      const newest = await this.store.currentRevision();
      const entries = await this.store.history(
        Math.min(HISTORY_LOOKUP_LIMIT, Math.max(1, newest - first + 1)),
      );
      for (const e of entries) found.set(e.revision, e);
    } catch (err) {
      // The events still go out, without actor and time: the stream must not stall on history.
      this.logger?.warn(
        { err, revision: first },
        'events: revision history not read; store events carry no actor or time',
      );
    }
    return found;
  }

  private async publishRevision(
    event: ChangeEvent,
    entry: HistoryEntry | undefined,
  ): Promise<void> {
    const byGroup = new Map<string, StoreEventJson['changes'][number][]>();
    const rollouts: Array<{ group: string; name: string }> = [];
    for (const m of event.changes) {
      if (m.typeUrl === ROLLOUT_TYPE) {
        if (m.op === 'put') rollouts.push({ group: m.group, name: m.name });
        continue;
      }
      // Internal records (tokens, ACME state, ...) are not configuration: no event.
      const type = resourceTypeByUrl(m.typeUrl);
      if (!type) continue;
      let list = byGroup.get(m.group);
      if (!list) byGroup.set(m.group, (list = []));
      list.push({ type: type.kind, type_url: m.typeUrl, name: m.name, action: m.op });
    }
    const at = entry?.time ?? new Date().toISOString();
    for (const [group, changes] of byGroup)
      this.hub.publish('store', group, {
        revision: event.revision,
        group,
        actor: entry?.actor ?? '',
        at,
        message: entry?.message ?? '',
        changes,
      });
    for (const r of rollouts) await this.publishRollout(r.group, r.name);
  }

  /** The rollout record as it is now (a later step's state wins over this revision's). */
  private async publishRollout(group: string, name: string): Promise<void> {
    try {
      const { resources } = await this.store.list({ typeUrl: ROLLOUT_TYPE, group, name });
      const record = resources[0];
      if (record) this.hub.publish('rollout', group, rolloutView(decodeRollout(record.value)));
    } catch (err) {
      this.logger?.warn({ err, group, rollout: name }, 'events: rollout record not read');
    }
  }
}

/** A node's `node` event: its status row and sync state; undefined once the fleet forgot it. */
export function nodeEvent(service: ManagementService, nodeId: string): NodeEventJson | undefined {
  const node = service.nodeStatus(nodeId);
  return node && { ...nodeStatusJson(node), state: nodeSyncState(node) };
}

/** A cluster's health as GET /v1/health shows it; `gone` when no proxy reports it any more. */
export function healthEvent(
  source: HealthStatusSource,
  group: string,
  cluster: string,
): HealthEventJson {
  return (
    healthJson(source, { group, cluster }).clusters[0] ?? {
      group,
      cluster,
      endpoints: [],
      gone: true,
    }
  );
}
