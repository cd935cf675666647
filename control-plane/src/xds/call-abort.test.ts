/**
 * call-abort.ts reaches the HTTP/2 stream under a grpc-js server call through grpc-js's own
 * layering: this pins that layering for the grpc-js in the lockfile, with and without a server
 * interceptor (the xDS server has one under mTLS), so an upgrade that changes it fails here.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Client,
  Metadata,
  Server,
  ServerCredentials,
  ServerInterceptingCall,
  credentials,
  status,
  type ServerDuplexStream,
  type ServerInterceptor,
  type ServiceError,
} from '@grpc/grpc-js';
import { abortCall, http2StreamOf } from './call-abort.js';

const identity = (b: Buffer): Buffer => b;
const METHOD = {
  path: '/ferry.test.Abort/Chat',
  requestStream: true,
  responseStream: true,
  requestSerialize: identity,
  requestDeserialize: identity,
  responseSerialize: identity,
  responseDeserialize: identity,
};
const passThrough: ServerInterceptor = (_method, call) => new ServerInterceptingCall(call);

const servers: Server[] = [];
after(() => servers.forEach((s) => s.forceShutdown()));

async function serve(
  interceptors: ServerInterceptor[],
  onCall: (call: ServerDuplexStream<Buffer, Buffer>) => void,
): Promise<string> {
  const server = new Server({ interceptors });
  servers.push(server);
  server.addService({ Chat: METHOD }, { Chat: onCall });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return `127.0.0.1:${port}`;
}

for (const [what, interceptors] of [
  ['without interceptors', []],
  ['behind an interceptor', [passThrough]],
] as const) {
  describe(`abortCall ${what}`, () => {
    test('finds the HTTP/2 stream and resets it while writes are stuck', async () => {
      let found = false;
      const address = await serve([...interceptors], (call) => {
        call.on('data', () => {
          found = http2StreamOf(call) !== undefined;
          // More than the HTTP/2 window: some are still queued when the call is cut off.
          for (let i = 0; i < 8; i++) call.write(Buffer.alloc(64 * 1024));
          abortCall(call, 'test: cut off');
        });
        call.on('error', () => undefined);
      });
      const client = new Client(address, credentials.createInsecure());
      try {
        const call = client.makeBidiStreamRequest(METHOD.path, identity, identity, new Metadata());
        const ended = new Promise<ServiceError>((resolve) => call.on('error', resolve));
        call.on('data', () => undefined);
        call.write(Buffer.from('hi'));
        const err = await ended;
        assert.equal(found, true, 'the HTTP/2 stream under the call was found');
        assert.equal(err.code, status.RESOURCE_EXHAUSTED, err.details);
      } finally {
        client.close();
      }
    });
  });
}
