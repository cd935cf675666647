import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type {
  FilterCallbacks,
  FilterDataStatus,
  FilterHeadersStatus,
  LocalReplyOptions,
  StreamFilter,
  StreamInfo,
} from '../filters/http/filter.js';
import type { RouteMatchResult } from '../router/route-table.js';
import {
  FilterManager,
  type CompiledHttpFilter,
  type FilterManagerOwner,
} from './filter-manager.js';
import { RequestHeaderMap, ResponseHeaderMap, type HeaderMap } from './header-map.js';

/** Records what reaches the end of the encode chain, and what the stream was asked to do. */
class Owner implements FilterManagerOwner {
  readonly events: string[] = [];
  readonly streamInfo = {} as StreamInfo;
  readonly clusters = new Map();
  bufferLimit = 100;
  responseStarted = false;
  readDisabled = false;
  perFilter: Record<string, { config: unknown; disabled: boolean }> = {};
  route(): RouteMatchResult | undefined {
    const route = {
      perFilterConfig: (name: string) => this.perFilter[name],
      memo: <K extends object, V>(key: K, build: (r: RouteMatchResult, k: K) => V): V =>
        build(route, key),
    } as unknown as RouteMatchResult;
    return route;
  }
  clearRouteCache(): void {}
  sinkHeaders(headers: ResponseHeaderMap, endStream: boolean): void {
    this.responseStarted = true;
    this.events.push(`sink headers ${headers.status}${endStream ? ' end' : ''}`);
  }
  sinkData(data: Buffer, endStream: boolean): boolean {
    this.events.push(`sink data ${data.toString()}${endStream ? ' end' : ''}`);
    return true;
  }
  sinkTrailers(_trailers: HeaderMap): void {
    this.events.push('sink trailers');
  }
  onLocalReply(status: number, options: LocalReplyOptions | undefined): void {
    this.events.push(`local reply ${status} ${options?.details ?? ''}`.trim());
  }
  readDisable(disabled: boolean): void {
    this.readDisabled = disabled;
    this.events.push(`readDisable ${disabled}`);
  }
  resetStream(): void {
    this.events.push('reset');
  }
}

type Script = Partial<{
  headers: FilterHeadersStatus;
  data: FilterDataStatus | ((data: Buffer, end: boolean) => FilterDataStatus);
  encodeHeaders: FilterHeadersStatus;
  encodeData: FilterDataStatus;
}>;

/** A filter that logs each event and answers from its script. */
function scripted(name: string, owner: Owner, script: Script, holder?: { cb?: FilterCallbacks }) {
  return {
    name,
    disabledByDefault: false,
    factory: {
      create(callbacks: FilterCallbacks): StreamFilter {
        if (holder !== undefined) holder.cb = callbacks;
        return {
          decodeHeaders(_h, end) {
            owner.events.push(`${name} headers${end ? ' end' : ''}`);
            return script.headers ?? 'continue';
          },
          decodeData(data, end) {
            owner.events.push(`${name} data ${data.toString()}${end ? ' end' : ''}`);
            const s = script.data ?? 'continue';
            return typeof s === 'function' ? s(data, end) : s;
          },
          encodeHeaders(h, end) {
            owner.events.push(`${name} encodeHeaders ${h.status}${end ? ' end' : ''}`);
            return script.encodeHeaders ?? 'continue';
          },
          encodeData(data, end) {
            owner.events.push(`${name} encodeData ${data.toString()}${end ? ' end' : ''}`);
            return script.encodeData ?? 'continue';
          },
          onDestroy() {
            owner.events.push(`${name} destroy`);
          },
        };
      },
    },
  } satisfies CompiledHttpFilter;
}

/** A terminal filter that records the request and answers once the request ended. */
function terminal(owner: Owner, holder: { cb?: FilterCallbacks } = {}): CompiledHttpFilter {
  return {
    name: 'router',
    disabledByDefault: false,
    factory: {
      create(callbacks: FilterCallbacks): StreamFilter {
        holder.cb = callbacks;
        return {
          decodeHeaders(_h, end) {
            owner.events.push(`router headers${end ? ' end' : ''}`);
            return 'stop';
          },
          decodeData(data, end) {
            owner.events.push(`router data ${data.toString()}${end ? ' end' : ''}`);
            return 'stop-no-buffer';
          },
        };
      },
    },
  };
}

const request = (): RequestHeaderMap =>
  new RequestHeaderMap('POST', '/', 'example.com', 'http', 'HTTP/1.1');

describe('FilterManager decode path', () => {
  test('continue passes headers and data through, in order', () => {
    const owner = new Owner();
    const fm = new FilterManager(owner, [scripted('a', owner, {}), terminal(owner)]);
    fm.decodeHeaders(request(), false);
    fm.decodeData(Buffer.from('x'), true);
    assert.deepEqual(owner.events, [
      'a headers',
      'router headers',
      'a data x end',
      'router data x end',
    ]);
  });

  test('stop on headers holds the stream; data still reaches the filter; continue from data resumes', () => {
    const owner = new Owner();
    let calls = 0;
    const fm = new FilterManager(owner, [
      scripted('a', owner, {
        headers: 'stop',
        data: () => (++calls === 1 ? 'stop-and-buffer' : 'continue'),
      }),
      terminal(owner),
    ]);
    fm.decodeHeaders(request(), false);
    fm.decodeData(Buffer.from('1'), false);
    fm.decodeData(Buffer.from('2'), true);
    assert.deepEqual(owner.events, [
      'a headers',
      'a data 1',
      'a data 2 end',
      'router headers',
      'router data 12 end',
    ]);
  });

  test('continueDecoding replays held headers and buffered data (filter without decodeData)', () => {
    const owner = new Owner();
    const holder: { cb?: FilterCallbacks } = {};
    const pausing: CompiledHttpFilter = {
      name: 'auth',
      disabledByDefault: false,
      factory: {
        create(cb) {
          holder.cb = cb;
          return { decodeHeaders: () => 'stop' };
        },
      },
    };
    const fm = new FilterManager(owner, [pausing, terminal(owner)]);
    fm.decodeHeaders(request(), false);
    fm.decodeData(Buffer.from('ab'), false);
    fm.decodeData(Buffer.from('cd'), true);
    assert.deepEqual(owner.events, []);
    holder.cb!.continueDecoding();
    assert.deepEqual(owner.events, ['router headers', 'router data abcd end']);
  });

  test('held data above the buffer limit pauses reading (watermark), resumes on continue', () => {
    const owner = new Owner();
    owner.bufferLimit = 3;
    const holder: { cb?: FilterCallbacks } = {};
    const fm = new FilterManager(owner, [
      scripted('a', owner, { headers: 'stop', data: 'stop-and-watermark' }, holder),
      terminal(owner),
    ]);
    fm.decodeHeaders(request(), false);
    fm.decodeData(Buffer.from('12'), false);
    assert.equal(owner.readDisabled, false);
    fm.decodeData(Buffer.from('34'), false);
    assert.equal(owner.readDisabled, true);
    holder.cb!.continueDecoding();
    assert.equal(owner.readDisabled, false);
    assert.ok(owner.events.includes('router data 1234'));
  });

  test('stop-and-buffer above the limit is a 413 local reply through the encoders', () => {
    const owner = new Owner();
    owner.bufferLimit = 3;
    const fm = new FilterManager(owner, [
      scripted('a', owner, { headers: 'stop', data: 'stop-and-buffer' }),
      terminal(owner),
    ]);
    fm.decodeHeaders(request(), false);
    fm.decodeData(Buffer.from('1234'), false);
    fm.decodeData(Buffer.from('more'), true);
    assert.deepEqual(owner.events, [
      'a headers',
      'a data 1234',
      'local reply 413 request_payload_too_large',
      'a encodeHeaders 413',
      'sink headers 413',
      'a encodeData Payload Too Large end',
      'sink data Payload Too Large end',
    ]);
  });
});

describe('FilterManager encode path', () => {
  test('encoders run in reverse config order, local replies included', () => {
    const owner = new Owner();
    const fm = new FilterManager(owner, [
      scripted('a', owner, {}),
      scripted('b', owner, { headers: 'stop' }),
      terminal(owner),
    ]);
    fm.decodeHeaders(request(), true);
    fm.sendLocalReply(403, 'no', { details: 'denied' });
    assert.deepEqual(owner.events, [
      'a headers end',
      'b headers end',
      'local reply 403 denied',
      'b encodeHeaders 403',
      'a encodeHeaders 403',
      'sink headers 403',
      'b encodeData no end',
      'a encodeData no end',
      'sink data no end',
    ]);
  });

  test('an encoder that stops with stop-no-buffer injects its own output later', () => {
    const owner = new Owner();
    const holder: { cb?: FilterCallbacks } = {};
    const routerHolder: { cb?: FilterCallbacks } = {};
    const fm = new FilterManager(owner, [
      scripted('z', owner, { encodeData: 'stop-no-buffer' }, holder),
      terminal(owner, routerHolder),
    ]);
    fm.decodeHeaders(request(), true);
    routerHolder.cb!.encodeHeaders(new ResponseHeaderMap(200), false);
    routerHolder.cb!.encodeData(Buffer.from('plain'), true);
    holder.cb!.injectEncodedDataToFilterChain(Buffer.from('ZIPPED'), true);
    assert.deepEqual(owner.events, [
      'z headers end',
      'router headers end',
      'z encodeHeaders 200',
      'sink headers 200',
      'z encodeData plain end',
      'sink data ZIPPED end',
    ]);
  });

  test('a local reply after the response started resets the stream', () => {
    const owner = new Owner();
    const routerHolder: { cb?: FilterCallbacks } = {};
    const fm = new FilterManager(owner, [terminal(owner, routerHolder)]);
    fm.decodeHeaders(request(), true);
    routerHolder.cb!.encodeHeaders(new ResponseHeaderMap(200), false);
    fm.sendLocalReply(500, 'late');
    assert.equal(owner.events.at(-1), 'reset');
  });
});

describe('FilterManager trailers, limits, watermarks and gRPC', () => {
  test('trailers reach a filter that held data (stop-no-buffer); its continue passes them on', () => {
    const owner = new Owner();
    const holder: { cb?: FilterCallbacks } = {};
    const trailersSeen: string[] = [];
    const transform: CompiledHttpFilter = {
      name: 't',
      disabledByDefault: false,
      factory: {
        create(cb) {
          holder.cb = cb;
          return {
            decodeHeaders: () => 'continue',
            decodeData: () => 'stop-no-buffer',
            decodeTrailers: () => {
              trailersSeen.push('t');
              cb.injectDecodedDataToFilterChain(Buffer.from('flushed'), false);
              return 'continue';
            },
          };
        },
      },
    };
    const routerTrailers: string[] = [];
    const router: CompiledHttpFilter = {
      name: 'router',
      disabledByDefault: false,
      factory: {
        create: () => ({
          decodeHeaders: () => 'stop',
          decodeData: (data) => {
            owner.events.push(`router data ${data.toString()}`);
            return 'stop-no-buffer';
          },
          decodeTrailers: (trailers) => {
            routerTrailers.push(trailers.get('x-t') ?? '');
            return 'stop';
          },
        }),
      },
    };
    const fm = new FilterManager(owner, [transform, router]);
    fm.decodeHeaders(request(), false);
    fm.decodeData(Buffer.from('raw'), false);
    fm.decodeTrailers(ResponseHeaderMap.fromObject({ 'x-t': '1' }));
    assert.deepEqual(trailersSeen, ['t']);
    assert.deepEqual(owner.events, ['router data flushed']);
    assert.deepEqual(routerTrailers, ['1']);
  });

  test('setDecoderBufferLimit raises the 413 threshold of this stream', () => {
    const owner = new Owner();
    owner.bufferLimit = 3;
    const holder: { cb?: FilterCallbacks } = {};
    const fm = new FilterManager(owner, [
      scripted('a', owner, { headers: 'stop', data: 'stop-and-buffer' }, holder),
      terminal(owner),
    ]);
    holder.cb!.setDecoderBufferLimit(10);
    fm.decodeHeaders(request(), false);
    fm.decodeData(Buffer.from('123456'), false);
    assert.ok(!owner.events.some((e) => e.startsWith('local reply')));
    fm.decodeData(Buffer.from('78901'), false);
    assert.ok(owner.events.includes('local reply 413 request_payload_too_large'));
  });

  test("an encoder filter's watermark makes the router's encodeData report backpressure", () => {
    const owner = new Owner();
    const holder: { cb?: FilterCallbacks } = {};
    const routerHolder: { cb?: FilterCallbacks } = {};
    let resumed = 0;
    const fm = new FilterManager(owner, [
      scripted('z', owner, {}, holder),
      terminal(owner, routerHolder),
    ]);
    fm.decodeHeaders(request(), true);
    routerHolder.cb!.onBelowWriteBufferLowWatermark = () => resumed++;
    routerHolder.cb!.encodeHeaders(new ResponseHeaderMap(200), false);
    assert.equal(routerHolder.cb!.encodeData(Buffer.from('a'), false), true);
    holder.cb!.onEncoderFilterAboveWriteBufferHighWatermark();
    assert.equal(routerHolder.cb!.encodeData(Buffer.from('b'), false), false);
    holder.cb!.onEncoderFilterBelowWriteBufferLowWatermark();
    assert.equal(resumed, 1);
    assert.equal(routerHolder.cb!.encodeData(Buffer.from('c'), false), true);
  });

  test('a local reply to a gRPC request is trailers-only with a mapped grpc-status', () => {
    const owner = new Owner();
    let replied: ResponseHeaderMap | undefined;
    owner.sinkHeaders = (headers, endStream) => {
      replied = headers;
      owner.events.push(`sink headers ${headers.status}${endStream ? ' end' : ''}`);
    };
    const fm = new FilterManager(owner, [terminal(owner)]);
    const headers = request();
    headers.set('content-type', 'application/grpc');
    fm.decodeHeaders(headers, true);
    fm.sendLocalReply(503, 'no healthy upstream');
    assert.equal(owner.events.at(-1), 'sink headers 200 end');
    assert.equal(replied?.get('grpc-status'), '14');
    assert.equal(replied?.get('grpc-message'), 'no%20healthy%20upstream');
    assert.equal(replied?.get('content-type'), 'application/grpc');
  });
});

describe('FilterManager per-route config', () => {
  test('a filter disabled in the HCM runs only where the route enables it', () => {
    const owner = new Owner();
    const optional = { ...scripted('opt', owner, {}), disabledByDefault: true };
    new FilterManager(owner, [optional, terminal(owner)]).decodeHeaders(request(), true);
    assert.deepEqual(owner.events, ['router headers end']);
    owner.events.length = 0;
    owner.perFilter = { opt: { config: undefined, disabled: false } };
    new FilterManager(owner, [optional, terminal(owner)]).decodeHeaders(request(), true);
    assert.deepEqual(owner.events, ['opt headers end', 'router headers end']);
  });

  test('a route can disable a filter, and perFilterConfig returns its config', () => {
    const owner = new Owner();
    owner.perFilter = {
      a: { config: undefined, disabled: true },
      b: { config: { x: 1 }, disabled: false },
    };
    const holder: { cb?: FilterCallbacks } = {};
    new FilterManager(owner, [
      scripted('a', owner, {}),
      scripted('b', owner, {}, holder),
      terminal(owner),
    ]).decodeHeaders(request(), true);
    assert.deepEqual(owner.events, ['b headers end', 'router headers end']);
    assert.deepEqual(holder.cb!.perFilterConfig(), { x: 1 });
  });

  test('destroy calls every onDestroy once', () => {
    const owner = new Owner();
    const fm = new FilterManager(owner, [scripted('a', owner, {}), terminal(owner)]);
    fm.destroy();
    fm.destroy();
    assert.deepEqual(owner.events, ['a destroy']);
  });
});
