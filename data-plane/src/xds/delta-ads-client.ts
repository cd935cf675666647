/**
 * An incremental ADS client (`DeltaAggregatedResources`, bootstrap `ads_config.api_type:
 * DELTA_GRPC`), following Envoy's xDS protocol document, "Incremental xDS":
 * - CDS and LDS subscribe to `*` (wildcard); EDS and RDS subscribe to the names the handler
 *   derives from what it accepted, and later send only the differences (subscribe/unsubscribe);
 *   names unsubscribed from are dropped from the handler's set (the server will not mention
 *   them again);
 * - a response carries only changes: `resources` (each with its own version) are added or
 *   replaced and `removed_resources` dropped, then the handler tries the resulting set;
 *   it is ACKed (response_nonce) or NACKed (response_nonce + error_detail as the SotW client
 *   builds it: the joined errors and a google.rpc.BadRequest naming the resources rejected alone,
 *   which keep their previous versions while the others are applied); a resource that does not
 *   decode is rejected alone (delta names every resource);
 * - on reconnect every first request carries `initial_resource_versions` for what the handler
 *   holds of that type, so the server sends only what changed meanwhile and reports what vanished.
 *
 * Same handler as the SotW client (ConfigSource), same backoff and connection reporting; this
 * class owns only protocol state.
 */
import type { DeltaDiscoveryRequest, DeltaDiscoveryResponse } from '@ferry/proto/grpc';
import type { ClientDuplexStream } from '@grpc/grpc-js';
import {
  decodeResource,
  labelled,
  logRejection,
  nackStatus,
  type AdsClientOptions,
  type DeltaAdsHandler,
  type InvalidResource,
  type XdsStreamClient,
} from './ads-client.js';
import { CDS, LDS, SUBSCRIBED_TYPES, type DeltaUpdate } from './resource-set.js';
import { XdsStreamClientBase } from './xds-stream-client.js';

export interface DeltaAdsClientOptions extends Omit<AdsClientOptions, 'handler'> {
  readonly handler: DeltaAdsHandler;
}

interface DeltaTypeState {
  /** Names subscribed to on the current stream; undefined before the type's first request. */
  subscribed: Set<string> | undefined;
}

const WILDCARD = '*';

export class DeltaAdsClient
  extends XdsStreamClientBase<DeltaDiscoveryRequest, DeltaDiscoveryResponse>
  implements XdsStreamClient
{
  private readonly types = new Map<string, DeltaTypeState>();

  constructor(private readonly options: DeltaAdsClientOptions) {
    super(options, 'delta xDS');
    for (const t of SUBSCRIBED_TYPES) this.types.set(t, { subscribed: undefined });
  }

  /** Delta versions each resource: they come from the handler's set, not from here. */
  setAcceptedVersion(): void {}

  updateSubscriptions(): void {
    if (!this.call) return;
    for (const typeUrl of SUBSCRIBED_TYPES) this.subscribe(typeUrl);
  }

  protected openCall(): ClientDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse> {
    return this.client.stream('DeltaAggregatedResources');
  }

  protected onStreamOpened(): void {
    for (const s of this.types.values()) s.subscribed = undefined;
    // Make before break: CDS, EDS, LDS, RDS (EDS/RDS only once they have names).
    for (const typeUrl of SUBSCRIBED_TYPES) this.subscribe(typeUrl);
  }

  /**
   * Sends the type's first request, or the difference between the names the handler wants and
   * those subscribed to on this stream. Nothing is sent when nothing changed.
   */
  private subscribe(typeUrl: string): void {
    const state = this.types.get(typeUrl);
    if (!this.call || !state) return;
    const wildcard = typeUrl === CDS || typeUrl === LDS;
    const wanted = new Set(wildcard ? [WILDCARD] : this.options.handler.subscribedNames(typeUrl));
    if (state.subscribed === undefined) {
      // A non-wildcard type is first requested once it has names: an empty first request would
      // be read as a wildcard subscription by servers following the legacy rule.
      if (wanted.size === 0) return;
      state.subscribed = wanted;
      const held = this.options.handler.resourceVersions(typeUrl);
      const initial = wildcard
        ? held
        : Object.fromEntries(Object.entries(held).filter(([name]) => wanted.has(name)));
      this.send({
        type_url: typeUrl,
        resource_names_subscribe: [...wanted].sort(),
        initial_resource_versions: initial,
      });
      this.forgetUnwanted(typeUrl, wildcard, wanted);
      return;
    }
    const subscribed = state.subscribed;
    const added = [...wanted].filter((n) => !subscribed.has(n)).sort();
    const dropped = [...subscribed].filter((n) => !wanted.has(n)).sort();
    if (added.length === 0 && dropped.length === 0) return;
    state.subscribed = wanted;
    this.send({
      type_url: typeUrl,
      resource_names_subscribe: added,
      resource_names_unsubscribe: dropped,
    });
    if (dropped.length) this.options.handler.forget(typeUrl, dropped);
  }

  /** Drops held resources of a named type that are no longer wanted (e.g. restored from disk). */
  private forgetUnwanted(typeUrl: string, wildcard: boolean, wanted: ReadonlySet<string>): void {
    if (wildcard) return;
    const stale = Object.keys(this.options.handler.resourceVersions(typeUrl)).filter(
      (n) => !wanted.has(n),
    );
    if (stale.length) this.options.handler.forget(typeUrl, stale);
  }

  protected onResponse(response: DeltaDiscoveryResponse): void {
    const typeUrl = String(response.type_url ?? '');
    const nonce = String(response.nonce ?? '');
    const systemVersion = String(response.system_version_info ?? '');
    if (!this.types.has(typeUrl)) {
      this.options.logger.warn({ typeUrl }, 'delta xDS response of a type never requested');
      return;
    }
    const updated: DeltaUpdate[] = [];
    const removed = (response.removed_resources ?? []).map(String);
    const invalid: InvalidResource[] = [];
    const errors: string[] = [];
    (response.resources ?? []).forEach((resource, i) => {
      const name = String(resource?.name ?? '');
      const path = `resources[${i}]`;
      // A Resource without a body says the name does not exist (on-demand discovery).
      if (!resource?.resource) {
        removed.push(name);
        return;
      }
      const decoded = decodeResource(typeUrl, resource.resource, path, this.options.decode);
      if (decoded.ok)
        updated.push({ name, version: String(resource.version ?? ''), json: decoded.json });
      else if (name !== '') invalid.push({ name, errors: labelled(typeUrl, name, decoded.errors) });
      else errors.push(...decoded.errors);
    });
    const verdict =
      errors.length === 0
        ? this.options.handler.onDeltaResponse(typeUrl, systemVersion, updated, removed, invalid)
        : { errors, rejected: [] };
    // Make before break: ask for newly needed EDS/RDS names before answering (what was applied
    // of a partly rejected response may need some too).
    for (const t of SUBSCRIBED_TYPES) if (t !== typeUrl) this.subscribe(t);
    if (verdict.errors.length === 0) {
      this.send({ type_url: typeUrl, response_nonce: nonce });
      return;
    }
    logRejection(this.options.logger, typeUrl, verdict, { system_version: systemVersion });
    this.send({
      type_url: typeUrl,
      response_nonce: nonce,
      error_detail: nackStatus(typeUrl, verdict),
    });
  }
}
