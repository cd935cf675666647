/**
 * Cutting off an xDS call whose client stopped reading. grpc-js sends a status only after every
 * queued message has been written, which never happens when the client's flow-control window
 * stays full, and offers no public way to reset a server call's HTTP/2 stream. So the stream
 * under the call is reset with ENHANCE_YOUR_CALM (gRPC clients report RESOURCE_EXHAUSTED),
 * which drops what was queued for it; the call object is destroyed too, which drops what grpc-js
 * buffered above the stream. Reaching the HTTP/2 stream relies on grpc-js's call layering
 * (call → interceptor calls → base call holding `stream`), checked by call-abort.test.ts
 * against the pinned grpc-js; when the layering is not found, the status is sent the ordinary
 * way (after the queued messages) and the buffered messages are still dropped.
 */
import { constants as http2 } from 'node:http2';
import { status } from '@grpc/grpc-js';

interface ResettableStream {
  close(code: number): void;
  readonly closed: boolean;
}

/** The HTTP/2 stream under a grpc-js server call, if its layering is the expected one. */
export function http2StreamOf(call: unknown): ResettableStream | undefined {
  let layer = (call as { call?: unknown } | null)?.call;
  for (let hops = 0; hops < 8 && typeof layer === 'object' && layer !== null; hops++) {
    const stream = (layer as { stream?: Partial<ResettableStream> & { rstCode?: unknown } }).stream;
    if (typeof stream?.close === 'function' && 'rstCode' in stream)
      return stream as ResettableStream;
    layer = (layer as { nextCall?: unknown }).nextCall;
  }
  return undefined;
}

/** Ends `call` now, whatever is queued on it. */
export function abortCall(
  call: { emit(event: 'error', status: { code: number; details: string }): boolean },
  details: string,
): void {
  const stream = http2StreamOf(call);
  if (stream && !stream.closed) stream.close(http2.NGHTTP2_ENHANCE_YOUR_CALM);
  else call.emit('error', { code: status.RESOURCE_EXHAUSTED, details });
  (call as { destroy?: () => void }).destroy?.();
}
