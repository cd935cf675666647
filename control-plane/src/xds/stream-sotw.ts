/**
 * A state-of-the-world xDS stream (ADS `StreamAggregatedResources`, or a per-type `Stream*`),
 * following Envoy's xDS protocol document:
 * - each type URL is its own sub-stream with its own version and nonce;
 * - a request whose response_nonce is not the latest sent for its type is stale and ignored;
 * - ACK (latest nonce, no error_detail) and NACK (error_detail) are recorded in the fleet; an ACK
 *   never triggers a response, and a rejected version is never sent again;
 * - newly requested names are answered even when nothing changed; names that do not exist yet
 *   are remembered and pushed when they appear;
 * - LDS/CDS and wildcard subscriptions carry the full set, other types only the names asked for;
 * - a multi-type change is sent in make-before-break order, removals last;
 * - a response over gRPC's 4 MiB default message size is not sent (the client would fail the
 *   stream on it): it is logged as an error with its group and type. Splitting is not done here:
 *   LDS/CDS must carry the full set in one response, and splitting RDS/EDS/SDS would need several
 *   outstanding nonces per type, which this stream's one-nonce-per-type model does not track.
 *   Delta streams split (stream-delta.ts).
 *
 * Per-stream state is only the subscription (names shared with the requests) and a few strings
 * per type; resource bytes are the cache's and no timers are used.
 */
import { status } from '@grpc/grpc-js';
import { combinedVersion } from '@ferry/proto';
import type { DiscoveryRequest } from '@ferry/proto/grpc';
import type { SubscriptionView } from './fleet.js';
import type { PushState } from './push-tracker.js';
import { XdsStreamBase } from './stream-base.js';
import { encodeSotwBody, frameSotwResponse, GRPC_PREFIX } from './response-encoder.js';
import { RESPONSE_RESOURCES_BUDGET, sotwResourcesSize } from './response-size.js';
import type { AnyResource, CachedResource, TypeSnapshot } from './snapshot-cache.js';
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

/** One type's subscription on a SotW stream. */
export interface SotwSubscription extends SubscriptionView {
  wildcard: boolean;
  names: Set<string>;
  /** The latest nonce sent for this type; undefined before the first response. */
  nonce: string | undefined;
  versionSent: string;
  /** A version the client NACKed; it is not sent again (only changed content is). */
  rejected: string | undefined;
}

/** What a stream keeps per type beyond the subscription itself. */
interface TrackedSubscription extends SotwSubscription, PushState {
  /** Names of the resources in the latest response (computed only when it is NACKed). */
  namesSent: () => string[];
  /** A version found too large to send, so that it is logged once, not on every request. */
  oversized: string | undefined;
  /** Version and message of the NACK last logged, so that a repeated NACK is logged once. */
  nackLogged: string | undefined;
  /** Written by the push tracker, read by status (SubscriptionView). */
  pushTraceId: string | undefined;
}

export interface SotwSelection {
  readonly version: string;
  readonly resources: readonly AnyResource[];
  /** The names of `resources`, in the same order; built on demand (only a NACK needs them). */
  readonly names: () => string[];
}

/**
 * The names of a subscription that names none (a wildcard, or before its first request): one
 * set shared by every such subscription, never mutated (SotW replaces `names`, never edits it).
 */
const NO_NAMES: Set<string> = new Set();

/** `namesSent` before the first response: one function for every subscription, not one each. */
const noNamesSent = (): string[] => [];

/** Sizes of selections, computed once per shared selection and reused by every stream. */
const allSizes = new WeakMap<readonly AnyResource[], number>();

/**
 * Selections per snapshot and subscription, so that the streams of a fleet asking for the same
 * names share one version hash, one resource list and one encoding. Keyed by the names in
 * subscription order (the order of `resources`); bounded so that a fleet of distinct
 * subscriptions cannot grow it without limit.
 */
const selections = new WeakMap<TypeSnapshot, Map<string, SotwSelection>>();
const MAX_SELECTIONS_PER_SNAPSHOT = 4096;
/**
 * Keys are the names joined: clients naming thousands of resources each make long keys, so the
 * keys kept per snapshot are bounded in characters too (past it, selections are computed per
 * stream and not shared).
 */
const MAX_SELECTION_KEY_CHARS = 16 * 1024 * 1024;
const selectionKeyChars = new WeakMap<TypeSnapshot, number>();
const WILDCARD_KEY = '\u0000*';
/**
 * The selection key of each name set: a subscription keeps its set while a client repeats the
 * same names (every ACK does), so the key is joined once per subscription change, not per request.
 */
const nameKeys = new WeakMap<ReadonlySet<string>, string>();

function namesKey(names: ReadonlySet<string>): string {
  let key = nameKeys.get(names);
  if (key === undefined) {
    key = [...names].join('\u0000');
    nameKeys.set(names, key);
  }
  return key;
}

/** Encoded version_info + resources + type_url per shared selection (see response-encoder.ts). */
const encodedBodies = new WeakMap<SotwSelection, Buffer>();

function selectionSize(selection: SotwSelection): number {
  let bytes = allSizes.get(selection.resources);
  if (bytes === undefined) {
    bytes = sotwResourcesSize(selection.resources);
    allSizes.set(selection.resources, bytes);
  }
  return bytes;
}

/**
 * The resources a subscription gets from a snapshot. `keep` adds resources that were just
 * removed, for the first half of a make-before-break push.
 */
export function selectSotw(
  snapshot: TypeSnapshot,
  sub: SubscriptionView,
  keep?: ReadonlyMap<string, CachedResource>,
): SotwSelection {
  // Make-before-break selections are rare and per stream: not shared.
  if (keep) return computeSelection(snapshot, sub, keep);
  const key = sub.wildcard ? WILDCARD_KEY : namesKey(sub.names);
  let bySnapshot = selections.get(snapshot);
  if (!bySnapshot) selections.set(snapshot, (bySnapshot = new Map<string, SotwSelection>()));
  let selection = bySnapshot.get(key);
  if (!selection) {
    selection = computeSelection(snapshot, sub, undefined);
    const chars = (selectionKeyChars.get(snapshot) ?? 0) + key.length;
    if (bySnapshot.size < MAX_SELECTIONS_PER_SNAPSHOT && chars <= MAX_SELECTION_KEY_CHARS) {
      bySnapshot.set(key, selection);
      selectionKeyChars.set(snapshot, chars);
    }
  }
  return selection;
}

function computeSelection(
  snapshot: TypeSnapshot,
  sub: SubscriptionView,
  keep: ReadonlyMap<string, CachedResource> | undefined,
): SotwSelection {
  if (sub.wildcard && !keep)
    return {
      version: snapshot.version,
      resources: snapshot.all,
      names: () => [...snapshot.resources.keys()],
    };
  const chosen: CachedResource[] = [];
  if (sub.wildcard) {
    chosen.push(...snapshot.resources.values());
    if (keep) chosen.push(...keep.values());
  } else {
    for (const name of sub.names) {
      const r = snapshot.resources.get(name) ?? keep?.get(name);
      if (r) chosen.push(r);
    }
  }
  return {
    version: combinedVersion(chosen.map((r) => [r.name, r.version] as const)),
    resources: chosen.map((r) => r.resource),
    names: () => chosen.map((r) => r.name),
  };
}

/**
 * Applies a request's resource_names to a subscription. Returns whether a name was added (the
 * server must then answer even if no version changed).
 */
export function updateSotwNames(
  sub: SotwSubscription,
  requested: readonly string[],
  first: boolean,
  typeUrl: string,
): boolean {
  if (requested.length === 0) {
    // Legacy wildcard: an LDS/CDS stream whose first request names nothing wants everything.
    // On other types, or after explicit names, an empty list unsubscribes from all of them.
    if (first) {
      sub.wildcard = FULL_STATE_TYPES.has(typeUrl);
      return sub.wildcard;
    }
    if (sub.wildcard && sub.names.size === 0) return false;
    sub.wildcard = false;
    sub.names = NO_NAMES;
    return false;
  }
  const wildcard = requested.includes('*');
  // The common request (an ACK) repeats the subscription: keep its set, and the set's key.
  if (wildcard === sub.wildcard && sameNames(sub.names, requested)) return false;
  let added = wildcard && !sub.wildcard;
  const next = new Set(requested.filter((n) => n !== '*'));
  for (const n of next) if (!sub.names.has(n)) added = true;
  sub.wildcard = wildcard;
  sub.names = next;
  return added;
}

/** Whether `requested` (less any '*') names exactly `names`, in the same order, once each. */
function sameNames(names: ReadonlySet<string>, requested: readonly string[]): boolean {
  let i = 0;
  for (const name of names) {
    while (i < requested.length && requested[i] === '*') i++;
    if (requested[i] !== name) return false;
    i++;
  }
  while (i < requested.length && requested[i] === '*') i++;
  return i === requested.length;
}

export class SotwStream extends XdsStreamBase<DiscoveryRequest> {
  private readonly subs = new Map<string, TrackedSubscription>();

  /**
   * @param kind "ads-sotw" or the per-type service ("lds", "cds", ...), shown in fleet status.
   * @param fixedTypeUrl For per-type services: the only type served (requests may omit type_url).
   */
  constructor(
    call: XdsCall,
    ctx: StreamContext,
    kind: string,
    fixedTypeUrl: string | undefined,
    private readonly onClosed: (stream: SotwStream) => void,
  ) {
    super(call, ctx, kind, fixedTypeUrl);
  }

  protected onFinished(): void {
    for (const sub of this.subs.values()) this.ctx.pushes.finished(sub);
    this.onClosed(this);
  }

  protected onRequest(request: DiscoveryRequest): void {
    const target = this.requestedType(request);
    if (!target) return;
    const { handle, typeUrl } = target;
    const names = request.resource_names ?? [];
    if (names.length > this.ctx.limits.maxResourceNames) {
      this.refuse(status.INVALID_ARGUMENT, tooManyNames(names.length, typeUrl, this.ctx.limits));
      return;
    }
    const nonce = request.response_nonce ?? '';
    let sub = this.subs.get(typeUrl);
    // xDS protocol: a request that does not carry the latest nonce of its type is stale.
    if (sub?.nonce !== undefined && nonce !== sub.nonce) {
      this.ctx.logger.debug({ node: handle.node.id, typeUrl, nonce }, 'stale nonce ignored');
      return;
    }
    const first = sub === undefined;
    if (!sub) {
      sub = {
        wildcard: false,
        names: NO_NAMES,
        nonce: undefined,
        versionSent: '',
        rejected: undefined,
        namesSent: noNamesSent,
        oversized: undefined,
        nackLogged: undefined,
        pushSentAt: -1,
        pushSpan: undefined,
        pushTraceId: undefined,
      };
      this.subs.set(typeUrl, sub);
    }
    if (sub.nonce !== undefined) {
      const nack = nackMessage(request.error_detail);
      if (nack !== undefined) {
        sub.rejected = sub.versionSent;
        this.ctx.metrics.nacks(typeUrl).inc();
        this.ctx.pushes.nacked(sub, nack);
        const resources = sub.namesSent();
        const rejected = nackRejections(request.error_detail, resources);
        handle.nacked(typeUrl, sub.versionSent, nack, resources, rejected);
        // A client repeating the same NACK (a NACK storm) is counted, logged once.
        const logged = `${sub.versionSent}\u0000${nack}`;
        if (sub.nackLogged !== logged) {
          sub.nackLogged = logged;
          this.ctx.logger.warn(
            {
              node: handle.node.id,
              typeUrl,
              version: sub.versionSent,
              error: nack,
              resources,
              ...(rejected ? { rejected: rejected.map((r) => r.name) } : {}),
            },
            rejected
              ? 'config rejected in part (NACK): the named resources keep their running version, the rest is applied'
              : 'config rejected (NACK)',
          );
        }
      } else if ((request.version_info ?? '') === sub.versionSent) {
        sub.rejected = undefined;
        handle.acked(typeUrl, sub.versionSent);
        this.ctx.pushes.acked(sub, typeUrl);
      }
      // Otherwise the client still runs an older version (e.g. it changes its subscription
      // right after a NACK): neither an ACK nor a NACK.
    }
    const added = updateSotwNames(sub, names, first, typeUrl);
    this.respond(typeUrl, sub, first || added);
  }

  /**
   * Cache listener: pushes what changed for this stream, make before break. Runs once per stream
   * per publish, so it allocates nothing in the common case (one type changed, nothing removed).
   */
  snapshotChanged(changed: ReadonlySet<string>): void {
    const handle = this.handle;
    if (this.closed || !handle) return;
    let types = 0;
    for (const typeUrl of TYPE_ORDER) if (changed.has(typeUrl) && this.subs.has(typeUrl)) types++;
    let deferred: string[] | undefined;
    for (const typeUrl of TYPE_ORDER) {
      if (!changed.has(typeUrl)) continue;
      const sub = this.subs.get(typeUrl);
      // A type not answered yet is pushed only when its first answer was withheld as oversized.
      if (!sub || (sub.nonce === undefined && sub.oversized === undefined)) continue;
      const snapshot = this.ctx.cache.snapshotFor(handle, typeUrl);
      // In a multi-type push, a full-state type first keeps what was removed, so that nothing
      // still referenced disappears before the resources referencing it change (make before break).
      if (types > 1 && FULL_STATE_TYPES.has(typeUrl) && this.affected(sub, snapshot.removed)) {
        this.respond(typeUrl, sub, false, snapshot.removed, snapshot);
        (deferred ??= []).push(typeUrl);
      } else {
        this.respond(typeUrl, sub, false, undefined, snapshot);
      }
    }
    if (!deferred) return;
    for (const typeUrl of deferred) {
      const sub = this.subs.get(typeUrl);
      if (sub) this.respond(typeUrl, sub, false);
    }
  }

  private affected(sub: SubscriptionView, removed: ReadonlyMap<string, CachedResource>): boolean {
    if (removed.size === 0) return false;
    if (sub.wildcard) return true;
    for (const name of removed.keys()) if (sub.names.has(name)) return true;
    return false;
  }

  private respond(
    typeUrl: string,
    sub: TrackedSubscription,
    force: boolean,
    keep?: ReadonlyMap<string, CachedResource>,
    published?: TypeSnapshot,
  ): void {
    if (this.closed || !this.handle) return;
    const snapshot = published ?? this.ctx.cache.snapshotFor(this.handle, typeUrl);
    const selection = selectSotw(snapshot, sub, keep);
    if (selection.version === sub.rejected) return;
    if (!force && selection.version === sub.versionSent) return;
    const bytes = selectionSize(selection);
    if (bytes > RESPONSE_RESOURCES_BUDGET) {
      if (sub.oversized !== selection.version) {
        sub.oversized = selection.version;
        this.ctx.logger.error(
          {
            group: this.handle.group,
            typeUrl,
            node: this.handle.node.id,
            version: selection.version,
            resources: selection.resources.length,
            bytes,
            limit: RESPONSE_RESOURCES_BUDGET,
          },
          'response not sent: it would exceed the 4 MiB gRPC message limit and the client would reject it; make the resources smaller, split the group, or use delta xDS',
        );
      }
      return;
    }
    const nonce = nextNonce();
    sub.nonce = nonce;
    sub.versionSent = selection.version;
    sub.namesSent = selection.names;
    this.handle.sent(
      typeUrl,
      selection.version,
      selection.resources.length,
      sub,
      snapshot.resources,
    );
    const response = frameSotwResponse(
      this.encodedBody(selection, typeUrl),
      nonce,
      this.ctx.encodedControlPlane.sotw,
    );
    const metrics = this.ctx.metrics;
    metrics.responses(typeUrl).inc();
    metrics.bytesSent.inc(response.byteLength - GRPC_PREFIX);
    this.writeResponse(response);
    this.ctx.pushes.sent(
      sub,
      this.handle,
      this.kind,
      typeUrl,
      selection.version,
      nonce,
      selection.resources.length,
      snapshot.origin,
    );
  }

  /** The selection's shared encoding; built by the first stream that sends it. */
  private encodedBody(selection: SotwSelection, typeUrl: string): Buffer {
    let body = encodedBodies.get(selection);
    if (!body) {
      body = encodeSotwBody(selection.version, selection.resources, typeUrl);
      encodedBodies.set(selection, body);
      this.ctx.metrics.bytesEncoded.inc(body.byteLength);
    }
    return body;
  }
}
