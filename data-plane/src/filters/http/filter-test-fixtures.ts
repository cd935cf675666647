/**
 * Test helpers for HTTP filter unit tests: a recording FilterCallbacks (what a filter asked of
 * its stream: local replies, continues, injected data, watermarks, a response it produced) and
 * builders for request/response header maps. Not used by product code; the real callbacks are
 * the filter manager's.
 */
import type { Socket } from 'node:net';
import type { PerFilterConfigModel } from '../../config/model.js';
import { HeaderMap, RequestHeaderMap, ResponseHeaderMap } from '../../http/header-map.js';
import type { RouteMatchResult } from '../../router/route-table.js';
import type { ClusterRuntime } from '../../upstream/cluster-runtime.js';
import type { FilterCallbacks, LocalReplyOptions, StreamInfo } from './filter.js';

export function requestHeaders(
  method: string,
  path: string,
  headers: Record<string, string> = {},
  options: { authority?: string; scheme?: string; protocol?: string } = {},
): RequestHeaderMap {
  const map = new RequestHeaderMap(
    method,
    path,
    options.authority ?? 'example.com',
    options.scheme ?? 'http',
    options.protocol ?? 'HTTP/1.1',
  );
  for (const [name, value] of Object.entries(headers)) map.append(name.toLowerCase(), value);
  return map;
}

export function responseHeaders(
  status: number,
  headers: Record<string, string> = {},
): ResponseHeaderMap {
  const map = new ResponseHeaderMap(status);
  for (const [name, value] of Object.entries(headers)) map.append(name.toLowerCase(), value);
  return map;
}

export function trailers(headers: Record<string, string>): HeaderMap {
  const map = new HeaderMap();
  for (const [name, value] of Object.entries(headers)) map.append(name.toLowerCase(), value);
  return map;
}

export interface LocalReply {
  readonly status: number;
  readonly body: string;
  readonly options: LocalReplyOptions | undefined;
}

export interface ProducedResponse {
  headers: ResponseHeaderMap | undefined;
  data: Buffer[];
  ended: boolean;
}

export interface FakeRoute {
  /** RouteMatchResult.action.kind (default 'route'). */
  readonly kind?: 'route' | 'redirect' | 'direct_response';
  readonly clusterName?: string;
  /** typed_per_filter_config levels for the filter under test, most specific first. */
  readonly perFilter?: readonly PerFilterConfigModel[];
}

export interface FakeCallbacksOptions {
  readonly route?: FakeRoute;
  readonly name?: string;
  readonly bufferLimit?: number;
  readonly remoteAddress?: string;
  readonly remotePort?: number;
  readonly downstreamRemoteIp?: string;
  readonly startTimeMs?: number;
  /** StreamInfo.clientRequestHeaders (undefined: none kept). */
  readonly clientRequestHeaders?: readonly string[];
}

function fakeRoute(route: FakeRoute, filterName: string): RouteMatchResult {
  const levels = route.perFilter ?? [];
  const configs = levels.filter((l) => l.config !== undefined).map((l) => l.config);
  const resolved =
    levels.length === 0 ? undefined : { config: configs[0], disabled: levels[0]!.disabled };
  const partial: Partial<RouteMatchResult> = {
    virtualHost: { name: 'test-vhost' } as RouteMatchResult['virtualHost'],
    route: { name: 'test-route' } as RouteMatchResult['route'],
    action: { kind: route.kind ?? 'route' } as RouteMatchResult['action'],
    clusterName: route.clusterName,
    perFilterConfig: (name) => (name === filterName ? resolved : undefined),
    perFilterConfigs: (name) => (name === filterName ? configs : []),
    memo: (key, build) => build(partial as RouteMatchResult, key),
  };
  return partial as RouteMatchResult;
}

/** FilterCallbacks that record every call; route and stream details are set by the test. */
export class FakeFilterCallbacks implements FilterCallbacks {
  readonly streamInfo: StreamInfo & { responseFlags: string | undefined };
  readonly clusters: ReadonlyMap<string, ClusterRuntime> = new Map();
  readonly bufferLimit: number;
  readonly name: string;
  routeResult: RouteMatchResult | undefined;

  readonly localReplies: LocalReply[] = [];
  continueDecodingCalls = 0;
  continueEncodingCalls = 0;
  readonly injectedDecoded: Array<{ data: Buffer; endStream: boolean }> = [];
  readonly injectedEncoded: Array<{ data: Buffer; endStream: boolean }> = [];
  readonly readDisableCalls: boolean[] = [];
  /** onEncoderFilterAboveWriteBufferHighWatermark / ...BelowLowWatermark calls, in order. */
  readonly encoderWatermarkCalls: Array<'above' | 'below'> = [];
  decoderBufferLimit: number | undefined;
  resets = 0;
  routeCacheCleared = 0;
  readonly response: ProducedResponse = { headers: undefined, data: [], ended: false };
  readonly decodeBuffer: Buffer[] = [];
  readonly encodeBuffer: Buffer[] = [];
  onBelowWriteBufferLowWatermark?: () => void;

  constructor(options: FakeCallbacksOptions = {}) {
    this.name = options.name ?? 'filter-under-test';
    this.bufferLimit = options.bufferLimit ?? 1024 * 1024;
    this.routeResult =
      options.route === undefined ? undefined : fakeRoute(options.route, this.name);
    const socket = {
      remoteAddress: options.remoteAddress ?? '192.0.2.10',
      remotePort: options.remotePort ?? 40000,
      localAddress: '127.0.0.1',
      localPort: 8080,
    } as Socket;
    this.streamInfo = {
      startTimeMs: options.startTimeMs ?? performance.now(),
      connection: { id: 1, socket, encrypted: false, serverName: undefined },
      dynamicMetadata: new Map(),
      filterState: new Map(),
      responseCodeDetails: '',
      responseFlags: undefined,
      addResponseFlag(flag) {
        this.responseFlags =
          this.responseFlags === undefined ? flag : `${this.responseFlags},${flag}`;
      },
      downstreamRemoteIp: options.downstreamRemoteIp ?? options.remoteAddress ?? '192.0.2.10',
      requestId: 'test-request-id',
      clientRequestHeaders: options.clientRequestHeaders,
      upstreamCluster: '',
      upstreamHost: '',
      attemptCount: 0,
      upstreamTransportFailureReason: undefined,
      trace: undefined,
    };
  }

  /** Installs a route with typed_per_filter_config levels for this filter. */
  setRoute(route: FakeRoute | undefined): void {
    this.routeResult = route === undefined ? undefined : fakeRoute(route, this.name);
  }

  route(): RouteMatchResult | undefined {
    return this.routeResult;
  }

  clearRouteCache(): void {
    this.routeCacheCleared++;
  }

  perFilterConfig(): unknown {
    return this.routeResult?.perFilterConfig(this.name)?.config;
  }

  sendLocalReply(status: number, body: string, options?: LocalReplyOptions): void {
    this.localReplies.push({ status, body, options });
  }

  continueDecoding(): void {
    this.continueDecodingCalls++;
  }

  decodingBuffer(): readonly Buffer[] {
    return this.decodeBuffer;
  }

  injectDecodedDataToFilterChain(data: Buffer, endStream: boolean): void {
    this.injectedDecoded.push({ data, endStream });
  }

  readDisable(disabled: boolean): void {
    this.readDisableCalls.push(disabled);
  }

  setDecoderBufferLimit(limit: number): void {
    this.decoderBufferLimit = limit;
  }

  encodeHeaders(headers: ResponseHeaderMap, endStream: boolean): void {
    this.response.headers = headers;
    this.response.ended = endStream;
  }

  encodeData(data: Buffer, endStream: boolean): boolean {
    this.response.data.push(data);
    this.response.ended = endStream;
    return true;
  }

  encodeTrailers(): void {
    this.response.ended = true;
  }

  resetStream(): void {
    this.resets++;
  }

  continueEncoding(): void {
    this.continueEncodingCalls++;
  }

  encodingBuffer(): readonly Buffer[] {
    return this.encodeBuffer;
  }

  injectEncodedDataToFilterChain(data: Buffer, endStream: boolean): void {
    this.injectedEncoded.push({ data, endStream });
  }

  onEncoderFilterAboveWriteBufferHighWatermark(): void {
    this.encoderWatermarkCalls.push('above');
  }

  onEncoderFilterBelowWriteBufferLowWatermark(): void {
    this.encoderWatermarkCalls.push('below');
  }

  /** Everything injected into the decode chain so far, concatenated. */
  decodedBody(): Buffer {
    return Buffer.concat(this.injectedDecoded.map((c) => c.data));
  }

  /** Everything injected into the encode chain so far, concatenated. */
  encodedBody(): Buffer {
    return Buffer.concat(this.injectedEncoded.map((c) => c.data));
  }

  /** Whether the last injected decode chunk ended the stream. */
  get decodeEnded(): boolean {
    return this.injectedDecoded.at(-1)?.endStream === true;
  }

  get encodeEnded(): boolean {
    return this.injectedEncoded.at(-1)?.endStream === true;
  }
}

/** Resolves once `check` is true, polling the event loop (zlib works on the thread pool). */
export async function until(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}
