/**
 * An incremental (delta) xDS stream (ADS `DeltaAggregatedResources`, or a per-type `Delta*`),
 * following Envoy's xDS protocol document, "Incremental xDS":
 * - per type: explicit names, a wildcard flag (`*`, or an LDS/CDS stream whose first request
 *   subscribes to nothing), and what the client has (name → version);
 * - `initial_resource_versions` on the first request of a type tells what a reconnecting client
 *   already has: equal versions are not sent again, vanished names go to removed_resources;
 * - every request that subscribes gets an answer, and a subscribed name that does not exist is
 *   reported in removed_resources;
 * - subscription changes apply even when the request's nonce is stale (dropping them would lose
 *   them for good); only the ACK/NACK part of a request needs the latest nonce;
 * - a NACKed resource is not resent: only a new version of it is;
 * - a multi-type change sends every type's updates in make-before-break order, removals last;
 * - an update over gRPC's 4 MiB default message size is split into several responses, each with
 *   its own nonce, removals in the last one. The client answers each in order; a NACK of any of
 *   them is recorded (with the names that part carried), and only the last one's ACK counts as
 *   an ACK of the update. A single resource over the limit is not sent and is logged as an error.
 */
import { status } from '@grpc/grpc-js';
import type { DeltaDiscoveryRequest } from '@ferry/proto/grpc';
import type { SubscriptionView } from './fleet.js';
import type { PushState } from './push-tracker.js';
import { XdsStreamBase } from './stream-base.js';
import { encodeDeltaEntry, frameDeltaResponse, GRPC_PREFIX } from './response-encoder.js';
import { chunkBySize, deltaResourceSize, RESPONSE_RESOURCES_BUDGET } from './response-size.js';
import {
  FULL_STATE_TYPES,
  nackMessage,
  nackRejections,
  nextNonce,
  tooManyNames,
  TYPE_ORDER,
  type StreamContext,
  type XdsCall,
} from './stream-context.js';

interface DeltaSubscription extends SubscriptionView, PushState {
  wildcard: boolean;
  names: Set<string>;
  /** Written by the push tracker, read by status (SubscriptionView). */
  pushTraceId: string | undefined;
  /** What the client has, as far as this stream knows: name → version. */
  sent: Map<string, string>;
  nonce: string | undefined;
  /** system_version_info of the latest response. */
  versionSent: string;
  /** Names of the resources in the latest response. */
  namesSent: string[];
  /**
   * When the latest update was split: the nonces of its earlier parts → the names each carried.
   * Their ACKs are not ACKs of the update; their NACKs are NACKs of it.
   */
  earlierParts: Map<string, string[]>;
  /** The NACK recorded for a part of the latest update, merged over its parts. */
  updateNack: { error: string; resources: string[] } | undefined;
  /** Version and message of the NACK last logged, so that a repeated NACK is logged once. */
  nackLogged: string | undefined;
}

interface DeltaResource {
  name: string;
  version: string;
  resource: { type_url: string; value: Buffer };
}

/**
 * Each cached resource's delta entry, encoded once and shared by every stream (keyed by the
 * cache's Any object, which exists once per name and version).
 */
const encodedEntries = new WeakMap<object, Buffer>();

interface Diff {
  resources: DeltaResource[];
  removed: string[];
}

export class DeltaStream extends XdsStreamBase<DeltaDiscoveryRequest> {
  private readonly subs = new Map<string, DeltaSubscription>();

  /**
   * @param kind "ads-delta" or "<type>-delta", shown in fleet status.
   * @param fixedTypeUrl For per-type services: the only type served (requests may omit type_url).
   */
  constructor(
    call: XdsCall,
    ctx: StreamContext,
    kind: string,
    fixedTypeUrl: string | undefined,
    private readonly onClosed: (stream: DeltaStream) => void,
  ) {
    super(call, ctx, kind, fixedTypeUrl);
  }

  protected onFinished(): void {
    for (const sub of this.subs.values()) this.ctx.pushes.finished(sub);
    this.onClosed(this);
  }

  protected onRequest(request: DeltaDiscoveryRequest): void {
    const target = this.requestedType(request);
    if (!target) return;
    const { typeUrl } = target;
    let sub = this.subs.get(typeUrl);
    const first = sub === undefined;
    if (!sub) {
      sub = {
        wildcard: false,
        names: new Set(),
        sent: new Map(),
        nonce: undefined,
        versionSent: '',
        namesSent: [],
        earlierParts: new Map(),
        updateNack: undefined,
        nackLogged: undefined,
        pushSentAt: -1,
        pushSpan: undefined,
        pushTraceId: undefined,
      };
      this.subs.set(typeUrl, sub);
    }
    const nonce = request.response_nonce ?? '';
    if (nonce !== '' && sub.nonce !== undefined) this.answer(typeUrl, sub, nonce, request);
    const subscribe = request.resource_names_subscribe ?? [];
    const unsubscribe = request.resource_names_unsubscribe ?? [];
    const initial = first ? (request.initial_resource_versions ?? {}) : {};
    const initialNames = Object.keys(initial);
    const limits = this.ctx.limits;
    if (
      initialNames.length > limits.maxResourceNames ||
      subscribe.length > limits.maxResourceNames
    ) {
      const count = Math.max(initialNames.length, subscribe.length);
      this.refuse(status.INVALID_ARGUMENT, tooManyNames(count, typeUrl, limits));
      return;
    }
    for (const [name, version] of Object.entries(initial)) sub.sent.set(name, version);
    if (first && subscribe.length === 0 && FULL_STATE_TYPES.has(typeUrl)) sub.wildcard = true;
    for (const name of subscribe) {
      if (name === '*') sub.wildcard = true;
      else sub.names.add(name);
      // A (re)subscribe asks for the resource again, unless the client just said it has it.
      if (!(name in initial)) sub.sent.delete(name);
    }
    for (const name of unsubscribe) {
      if (name === '*') {
        sub.wildcard = false;
        for (const had of [...sub.sent.keys()]) if (!sub.names.has(had)) sub.sent.delete(had);
      } else {
        sub.names.delete(name);
        if (!sub.wildcard) sub.sent.delete(name);
      }
    }
    if (sub.names.size > limits.maxResourceNames) {
      this.refuse(status.INVALID_ARGUMENT, tooManyNames(sub.names.size, typeUrl, limits));
      return;
    }
    const requested = subscribe.filter((n) => n !== '*');
    const diff = this.diff(typeUrl, sub, requested);
    if (first || subscribe.length > 0 || diff.resources.length > 0 || diff.removed.length > 0) {
      this.send(typeUrl, sub, diff.resources, diff.removed);
    }
  }

  /** The ACK/NACK part of a request (its subscription changes are applied by the caller). */
  private answer(
    typeUrl: string,
    sub: DeltaSubscription,
    nonce: string,
    request: DeltaDiscoveryRequest,
  ): void {
    const handle = this.handle;
    if (!handle) return;
    const part = sub.earlierParts.get(nonce);
    if (nonce !== sub.nonce && part === undefined) {
      this.ctx.logger.debug(
        { node: handle.node.id, typeUrl, nonce },
        'stale nonce: ACK/NACK ignored',
      );
      return;
    }
    const nack = nackMessage(request.error_detail);
    if (nack === undefined) {
      // An earlier part's ACK says nothing about the rest; after a NACKed part, the update as a
      // whole stays rejected.
      if (part === undefined && sub.updateNack === undefined) {
        handle.acked(typeUrl, sub.versionSent, [
          ...sub.namesSent,
          ...[...sub.earlierParts.values()].flat(),
        ]);
        this.ctx.pushes.acked(sub, typeUrl);
      }
      return;
    }
    const names = part ?? sub.namesSent;
    const rejected = nackRejections(request.error_detail, names);
    this.ctx.metrics.nacks(typeUrl).inc();
    this.ctx.pushes.nacked(sub, nack);
    const previous = sub.updateNack;
    sub.updateNack = previous
      ? {
          error: previous.error === nack ? nack : `${previous.error}; ${nack}`,
          resources: [...previous.resources, ...names],
        }
      : { error: nack, resources: [...names] };
    // Named rejections settle what this part carried; a whole rejection covers every part.
    handle.nacked(
      typeUrl,
      sub.versionSent,
      sub.updateNack.error,
      rejected ? names : sub.updateNack.resources,
      rejected,
    );
    // A client repeating the same NACK (a NACK storm) is counted, logged once.
    const logged = `${sub.versionSent}\u0000${nack}`;
    if (sub.nackLogged === logged) return;
    sub.nackLogged = logged;
    this.ctx.logger.warn(
      {
        node: handle.node.id,
        typeUrl,
        version: sub.versionSent,
        error: nack,
        resources: names,
        ...(rejected ? { rejected: rejected.map((r) => r.name) } : {}),
      },
      rejected
        ? 'config rejected in part (NACK): the named resources keep their running version, the rest is applied'
        : 'config rejected (NACK)',
    );
  }

  /**
   * What the client lacks: resources whose version differs from what it has, and names it has
   * (or just asked for) that do not exist. Updates `sent` as if the diff were sent.
   */
  private diff(typeUrl: string, sub: DeltaSubscription, requested: readonly string[] = []): Diff {
    const snapshot = this.handle
      ? this.ctx.cache.snapshotFor(this.handle, typeUrl)
      : this.ctx.cache.snapshot('default', typeUrl);
    const resources: DeltaResource[] = [];
    const removed: string[] = [];
    const consider = (name: string): void => {
      const r = snapshot.resources.get(name);
      if (r) {
        if (sub.sent.get(name) !== r.version) {
          resources.push({ name, version: r.version, resource: r.resource });
          sub.sent.set(name, r.version);
        }
      } else if (sub.sent.delete(name)) {
        removed.push(name);
      }
    };
    if (sub.wildcard) for (const name of snapshot.resources.keys()) consider(name);
    for (const name of sub.names) consider(name);
    // Names the client has that are gone (wildcard, or left from initial_resource_versions).
    for (const name of [...sub.sent.keys()]) if (!snapshot.resources.has(name)) consider(name);
    for (const name of requested)
      if (!snapshot.resources.has(name) && !removed.includes(name)) removed.push(name);
    return { resources, removed };
  }

  private send(
    typeUrl: string,
    sub: DeltaSubscription,
    resources: DeltaResource[],
    removed: string[],
  ): void {
    const handle = this.handle;
    if (this.closed || !handle) return;
    const snapshot = this.ctx.cache.snapshotFor(handle, typeUrl);
    const version = snapshot.version;
    const { chunks, oversized } = chunkBySize(resources, deltaResourceSize);
    for (const r of oversized) {
      // Not sent, so the client does not have it: a later change of it is diffed again.
      sub.sent.delete(r.name);
      this.ctx.logger.error(
        {
          group: handle.group,
          typeUrl,
          name: r.name,
          node: handle.node.id,
          bytes: deltaResourceSize(r),
          limit: RESPONSE_RESOURCES_BUDGET,
        },
        'resource not sent: on its own it exceeds the 4 MiB gRPC message limit; make it smaller',
      );
    }
    if (chunks.length === 0) chunks.push([]);
    sub.earlierParts = new Map();
    sub.updateNack = undefined;
    sub.versionSent = version;
    chunks.forEach((chunk, i) => {
      const last = i === chunks.length - 1;
      const nonce = nextNonce();
      const names = chunk.map((r) => r.name);
      if (last) {
        sub.nonce = nonce;
        sub.namesSent = names;
      } else {
        sub.earlierParts.set(nonce, names);
      }
      const response = frameDeltaResponse(
        version,
        chunk.map((r) => this.entry(r)),
        typeUrl,
        // Removals last, after every update of this type (make before break within the type).
        last ? removed : [],
        nonce,
        this.ctx.encodedControlPlane.delta,
      );
      this.ctx.metrics.responses(typeUrl).inc();
      this.ctx.metrics.bytesSent.inc(response.byteLength - GRPC_PREFIX);
      this.writeResponse(response);
    });
    handle.sent(typeUrl, version, sub.sent.size, sub, snapshot.resources);
    this.ctx.pushes.sent(
      sub,
      handle,
      this.kind,
      typeUrl,
      version,
      sub.nonce!,
      resources.length,
      snapshot.origin,
    );
  }

  private entry(r: DeltaResource): Buffer {
    let entry = encodedEntries.get(r.resource);
    if (!entry) {
      entry = encodeDeltaEntry(r);
      encodedEntries.set(r.resource, entry);
      this.ctx.metrics.bytesEncoded.inc(entry.byteLength);
    }
    return entry;
  }

  /** Cache listener: sends each type's updates in make-before-break order, removals last. */
  snapshotChanged(changed: ReadonlySet<string>): void {
    if (this.closed || !this.handle) return;
    const diffs: Array<[string, DeltaSubscription, Diff]> = [];
    for (const typeUrl of TYPE_ORDER) {
      const sub = this.subs.get(typeUrl);
      if (!sub || !changed.has(typeUrl)) continue;
      const diff = this.diff(typeUrl, sub);
      if (diff.resources.length > 0 || diff.removed.length > 0) diffs.push([typeUrl, sub, diff]);
    }
    if (diffs.length === 1) {
      // One type: its removals cannot break another type, so one response carries everything.
      const [typeUrl, sub, diff] = diffs[0]!;
      this.send(typeUrl, sub, diff.resources, diff.removed);
      return;
    }
    for (const [typeUrl, sub, diff] of diffs) {
      if (diff.resources.length > 0) this.send(typeUrl, sub, diff.resources, []);
    }
    for (const [typeUrl, sub, diff] of diffs) {
      if (diff.removed.length > 0) this.send(typeUrl, sub, [], diff.removed);
    }
  }
}
