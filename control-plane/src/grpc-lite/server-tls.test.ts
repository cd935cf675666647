import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { createCa, type TestCa, type TestCert } from '@ferry/shared/testing/test-pki';
import { GrpcLiteServer } from './server.js';
import type { LiteServerCall, LiteUnaryCallback } from './server-call.js';
import { newTestClient, TEST_SERVICE, type Json } from './test-service.js';

const implementation = {
  Unary(call: LiteServerCall, callback: LiteUnaryCallback): void {
    const auth = call.getAuthContext();
    callback(null, {
      tls: auth.transportSecurityType ?? null,
      cn: auth.sslPeerCertificate?.subject?.CN ?? null,
    });
  },
  ServerStream(): void {},
  ClientStream(): void {},
  Chat(): void {},
};

describe('grpc-lite server over TLS', () => {
  let dir: string;
  let ca: TestCa;
  let serverCert: TestCert;
  let clientCert: TestCert;
  let otherCa: TestCa;
  let strangerCert: TestCert;
  const servers: GrpcLiteServer[] = [];
  const clients: grpc.Client[] = [];

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'grpc-lite-tls-'));
    ca = createCa(dir, 'lite-ca');
    serverCert = ca.issue('control-plane', { sans: ['IP:127.0.0.1'] });
    clientCert = ca.issue('proxy-1');
    otherCa = createCa(dir, 'other-ca');
    strangerCert = otherCa.issue('stranger');
  });

  after(async () => {
    for (const client of clients) client.close();
    for (const server of servers) {
      server.forceClose();
      await server.close();
    }
    rmSync(dir, { recursive: true, force: true });
  });

  async function start(requireClientCert: boolean): Promise<number> {
    const server = new GrpcLiteServer({
      tls: {
        key: serverCert.key,
        cert: serverCert.cert,
        ...(requireClientCert ? { ca: ca.cert, requestCert: true, rejectUnauthorized: true } : {}),
      },
    });
    servers.push(server);
    server.addService(TEST_SERVICE, implementation);
    return server.listen(0);
  }

  /** Credentials trusting the test CA, presenting `cert` as the client certificate. */
  function withClientCert(cert: TestCert): grpc.ChannelCredentials {
    return grpc.credentials.createSsl(
      Buffer.from(ca.cert),
      Buffer.from(cert.key),
      Buffer.from(cert.cert),
    );
  }

  function call(port: number, credentials: grpc.ChannelCredentials): Promise<Json> {
    const client = newTestClient(`127.0.0.1:${port}`, credentials);
    clients.push(client);
    return new Promise((resolve, reject) => {
      client.unary({}, new grpc.Metadata(), { deadline: Date.now() + 10_000 }, (error, value) =>
        error ? reject(error) : resolve(value),
      );
    });
  }

  test('TLS: a client that trusts the CA is served; the call sees an ssl transport', async () => {
    const port = await start(false);
    const value = await call(port, grpc.credentials.createSsl(Buffer.from(ca.cert)));
    assert.deepEqual(value, { tls: 'ssl', cn: null });
  });

  test("mTLS: the client certificate's subject reaches the handler", async () => {
    const port = await start(true);
    const value = await call(port, withClientCert(clientCert));
    assert.deepEqual(value, { tls: 'ssl', cn: 'proxy-1' });
  });

  test('a TLS socket verified by its own listener and injected is served, its peer known', async () => {
    const server = new GrpcLiteServer();
    servers.push(server);
    server.addService(TEST_SERVICE, implementation);
    const listener = tls.createServer(
      {
        key: serverCert.key,
        cert: serverCert.cert,
        ca: ca.cert,
        requestCert: true,
        rejectUnauthorized: true,
        ALPNProtocols: ['h2'],
      },
      (socket) => server.injectConnection(socket),
    );
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    try {
      const port = (listener.address() as { port: number }).port;
      const value = await call(port, withClientCert(clientCert));
      assert.deepEqual(value, { tls: 'ssl', cn: 'proxy-1' });
    } finally {
      for (const client of clients.splice(0)) client.close();
      server.forceClose();
      await new Promise((resolve) => listener.close(resolve));
    }
  });

  test('mTLS: a client without a certificate, or with one from another CA, is refused', async () => {
    const port = await start(true);
    await assert.rejects(call(port, grpc.credentials.createSsl(Buffer.from(ca.cert))), {
      code: grpc.status.UNAVAILABLE,
    });
    await assert.rejects(call(port, withClientCert(strangerCert)), {
      code: grpc.status.UNAVAILABLE,
    });
  });
});
