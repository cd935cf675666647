/**
 * What every xDS stream shares, SotW or delta, ADS or per-type: the gRPC call's lifecycle
 * (close = end it from the server side, destroy = forget it; both idempotent), and registering
 * the node in the fleet on its first request and following its group's snapshots.
 * Subclasses supply the protocol: `onRequest` and `snapshotChanged`.
 *
 * Limits against misbehaving clients (docs/architecture.md, "Limits under bad input and abuse"):
 * - the first request must carry a node: without one the call ends with INVALID_ARGUMENT;
 * - requests are read at most `requestsPerSecond` on average (bursts of `requestBurst`): past
 *   that the stream is paused, so HTTP/2 flow control holds a flooding client back and its
 *   requests wait, none is dropped; one timer exists only while a stream is paused;
 * - responses the client has not read yet are counted (the call's `pendingBytes`); a push that
 *   would take them over `maxPendingBytes` cuts the client off (RST_STREAM ENHANCE_YOUR_CALM,
 *   which gRPC clients report as RESOURCE_EXHAUSTED), so a client that stops reading holds a
 *   bounded amount of memory and never delays anyone else.
 */
// Imported, not the global: the global `performance` is a lazy getter, read per request here.
import { performance } from 'node:perf_hooks';
import { status } from '@grpc/grpc-js';
import type { DeltaDiscoveryRequest, DiscoveryRequest } from '@ferry/proto/grpc';
import type { LiteCallConsumer } from '../grpc-lite/server-call.js';
import type { NodeHandle } from './fleet.js';
import type { GroupListener } from './snapshot-cache.js';
import { isKnownType, nodeIdentity, type StreamContext, type XdsCall } from './stream-context.js';

export abstract class XdsStreamBase<Request extends DiscoveryRequest | DeltaDiscoveryRequest>
  implements LiteCallConsumer, GroupListener
{
  protected handle: NodeHandle | undefined;
  protected closed = false;
  /** Request tokens left (token bucket) and when it was last refilled. */
  private tokens: number;
  private refilledAt = performance.now();
  private resumeTimer: NodeJS.Timeout | undefined;

  /**
   * @param kind Shown in fleet status: "ads-sotw", "ads-delta", "lds", "cds-delta", ...
   * @param fixedTypeUrl For per-type services: the only type served (requests may omit type_url).
   */
  constructor(
    protected readonly call: XdsCall,
    protected readonly ctx: StreamContext,
    protected readonly kind: string,
    protected readonly fixedTypeUrl: string | undefined,
  ) {
    this.tokens = ctx.limits.requestBurst;
    // Methods, not listeners: every closure here would be paid per connected proxy.
    call.consume(this);
  }

  /** The call's next request (LiteCallConsumer). */
  onCallMessage(request: unknown): void {
    this.received(request as Request);
  }

  /** The client half-closed: the stream ends (LiteCallConsumer). */
  onCallEnd(): void {
    this.close();
  }

  /** The call is over, however it ended (LiteCallConsumer). */
  onCallOver(): void {
    this.finish();
  }

  protected abstract onRequest(request: Request): void;
  /** Called with the types whose published snapshot changed in this stream's group. */
  abstract snapshotChanged(changed: ReadonlySet<string>): void;
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

  /**
   * Ends the call with `code` and `details` (a client error: bad request, over a limit), logged
   * once as a warning with the node.
   */
  protected refuse(code: status, details: string): void {
    if (this.closed) return;
    this.ctx.logger.warn(
      { node: this.handle?.node.id, peer: this.call.getPeer(), kind: this.kind, code, details },
      'xDS stream ended: the client broke a limit or the protocol',
    );
    this.ctx.metrics.refusedStreams('request').inc();
    this.finish();
    this.call.emit('error', { code, details });
  }

  /**
   * Writes a response (a whole gRPC frame, response-encoder.ts), or cuts the client off when it
   * leaves too much unread (see above).
   */
  protected writeResponse(frame: Buffer): void {
    const limit = this.ctx.limits.maxPendingBytes;
    const pendingBytes = this.call.pendingBytes;
    if (pendingBytes > 0 && pendingBytes + frame.byteLength > limit) {
      this.ctx.logger.warn(
        {
          node: this.handle?.node.id,
          peer: this.call.getPeer(),
          kind: this.kind,
          pendingBytes,
          push: frame.byteLength,
          limit,
        },
        'xDS client cut off: it does not read its responses (over --xds-max-pending-bytes); its stream is reset',
      );
      this.ctx.metrics.refusedStreams('slow_reader').inc();
      this.finish();
      // A status would queue behind the unread responses: the stream is reset instead.
      this.call.reset();
      return;
    }
    this.call.writeFrame(frame);
  }

  /** Counts a request against the stream's rate; pauses reading while it is over. */
  private received(request: Request): void {
    const { requestsPerSecond, requestBurst } = this.ctx.limits;
    const now = performance.now();
    this.tokens = Math.min(
      requestBurst,
      this.tokens + ((now - this.refilledAt) / 1000) * requestsPerSecond,
    );
    this.refilledAt = now;
    this.tokens -= 1;
    this.onRequest(request);
    if (this.tokens < 0 && !this.closed && this.resumeTimer === undefined) {
      this.ctx.metrics.throttledStreams.inc();
      this.call.pause();
      // The closure exists only while the stream is paused, not on every stream.
      this.resumeTimer = setTimeout(
        () => this.resume(),
        (-this.tokens / requestsPerSecond) * 1000 + 1,
      );
    }
  }

  private resume(): void {
    this.resumeTimer = undefined;
    if (!this.closed) this.call.resume();
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.resumeTimer !== undefined) clearTimeout(this.resumeTimer);
    this.resumeTimer = undefined;
    if (this.handle) this.ctx.cache.unwatchGroup(this.handle.group, this);
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
    if (!this.handle && (typeof request.node !== 'object' || request.node === null)) {
      // xDS protocol: the node identifies the client and comes in its first request; without it
      // there is no group to serve.
      this.refuse(
        status.INVALID_ARGUMENT,
        'the first request of an xDS stream must carry the node (node.id, node.cluster = the group)',
      );
      return undefined;
    }
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
      this.ctx.cache.catchUp(this);
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
    this.ctx.cache.watchGroup(handle.group, this);
    return handle;
  }
}
