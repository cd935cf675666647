/**
 * What every xDS stream shares, SotW or delta, ADS or per-type: the gRPC call's lifecycle
 * (close = end it from the server side, destroy = forget it; both idempotent), and registering
 * the node in the fleet on its first request and following its group's snapshots.
 * Subclasses supply the protocol: `onRequest` and `onSnapshot`.
 */
import type { DeltaDiscoveryRequest, DiscoveryRequest } from '@ferry/proto/grpc';
import type { NodeHandle } from './fleet.js';
import type { GroupListener } from './snapshot-cache.js';
import { isKnownType, nodeIdentity, type StreamContext, type XdsCall } from './stream-context.js';

export abstract class XdsStreamBase<Request extends DiscoveryRequest | DeltaDiscoveryRequest> {
  protected handle: NodeHandle | undefined;
  private unwatch: (() => void) | undefined;
  protected closed = false;

  /**
   * @param kind Shown in fleet status: "ads-sotw", "ads-delta", "lds", "cds-delta", ...
   * @param fixedTypeUrl For per-type services: the only type served (requests may omit type_url).
   */
  constructor(
    protected readonly call: XdsCall<Request>,
    protected readonly ctx: StreamContext,
    protected readonly kind: string,
    protected readonly fixedTypeUrl: string | undefined,
  ) {
    call.on('data', (request) => this.onRequest(request));
    call.on('end', () => this.close());
    call.on('cancelled', () => this.finish());
    call.on('error', () => this.finish());
    call.on('close', () => this.finish());
  }

  protected abstract onRequest(request: Request): void;
  /** Called with the types whose published snapshot changed in this stream's group. */
  protected abstract readonly onSnapshot: GroupListener;
  /** Called once when the stream ends, however it ends. */
  protected abstract onFinished(): void;

  /** Ends the stream from the server side (graceful shutdown: the client reconnects). */
  close(): void {
    if (this.closed) return;
    this.finish();
    try {
      this.call.end();
    } catch {
      // Already torn down by the transport.
    }
  }

  /** Forgets the stream without answering it (the server is cancelling every call). */
  destroy(): void {
    this.finish();
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    this.unwatch?.();
    this.handle?.disconnect();
    this.onFinished();
  }

  /**
   * What every request starts with: the stream's node (registered on the first request) and the
   * type URL it is about; undefined when the stream is closed or the type is not served here (an
   * unknown type is logged once by the context and gets no answer).
   */
  protected requestedType(request: Request): { handle: NodeHandle; typeUrl: string } | undefined {
    if (this.closed) return undefined;
    const handle = this.nodeFor(request);
    handle.seen();
    const typeUrl = request.type_url || this.fixedTypeUrl || '';
    if (!isKnownType(typeUrl) || (this.fixedTypeUrl && typeUrl !== this.fixedTypeUrl)) {
      this.ctx.unknownType(typeUrl, handle.node.id);
      return undefined;
    }
    return { handle, typeUrl };
  }

  /**
   * The stream's node, registered on its first request (the node comes only in the first one);
   * on later requests, a push this stream still owes for an already published snapshot goes out
   * first, so answers never overtake it.
   */
  private nodeFor(request: Request): NodeHandle {
    if (this.handle) {
      this.ctx.cache.catchUp(this.onSnapshot);
      return this.handle;
    }
    const identity = nodeIdentity(request.node) ?? { id: '', cluster: '' };
    const address = this.call.getPeer();
    const handle = this.ctx.fleet.connect(
      identity.id ? identity : { ...identity, id: `anonymous@${address}` },
      this.kind,
      address,
    );
    this.handle = handle;
    this.unwatch = this.ctx.cache.watchGroup(handle.group, this.onSnapshot);
    return handle;
  }
}
