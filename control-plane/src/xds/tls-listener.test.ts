import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { selfSigned } from '@ferry/shared/testing/test-pki';
import { XdsTlsListener, type ConnectionInjector } from './tls-listener.js';

/**
 * Connects with `options` and resolves, once the server has closed the connection (the fake
 * injector ends every connection it gets), with the server certificate's CN; or with the error
 * that ended the handshake.
 */
function handshake(port: number, options: tls.ConnectionOptions): Promise<string | Error> {
  return new Promise((resolve) => {
    let cn: string | undefined;
    const socket = tls.connect(
      { host: '127.0.0.1', port, ALPNProtocols: ['h2'], ...options },
      () => {
        cn = String(socket.getPeerCertificate().subject.CN);
        socket.resume();
      },
    );
    socket.once('error', (err: Error) => resolve(err));
    socket.once('close', () => resolve(cn ?? new Error('closed during the handshake')));
  });
}

describe('XdsTlsListener', () => {
  let dir: string;
  let server: { certFile: string; keyFile: string };
  let client: { certFile: string; keyFile: string };
  let listener: XdsTlsListener;
  let port: number;
  /** Client certificate CN of each connection handed to gRPC (null: none verified). */
  const injected: Array<string | null> = [];
  const refused: string[] = [];
  const injector: ConnectionInjector = {
    injectConnection: (socket) => {
      injected.push(socket.authorized ? String(socket.getPeerCertificate().subject.CN) : null);
      socket.end();
    },
    listenError: () => undefined,
  };

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-xds-tls-'));
    server = selfSigned(dir, 'cp-one');
    client = selfSigned(dir, 'proxy');
    listener = new XdsTlsListener(
      { certFile: server.certFile, keyFile: server.keyFile, clientCaFile: client.certFile },
      (_peer, error) => refused.push(error.message),
    );
    port = await listener.listen('127.0.0.1', 0, injector);
  });

  after(() => {
    listener.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('hands verified connections to gRPC, with the client certificate', async () => {
    const cn = await handshake(port, {
      ca: fs.readFileSync(server.certFile),
      servername: 'cp-one',
      cert: fs.readFileSync(client.certFile),
      key: fs.readFileSync(client.keyFile),
    });
    assert.equal(cn, 'cp-one');
    await waitFor(() => injected.length === 1);
    assert.deepEqual(injected, ['proxy']);
  });

  test('refuses and reports a client without a certificate', async () => {
    await handshake(port, { ca: fs.readFileSync(server.certFile), servername: 'cp-one' });
    await waitFor(() => refused.length > 0);
    assert.match(refused.join('\n'), /certificate/i);
    assert.equal(injected.length, 1);
  });

  test('reload serves new files to new handshakes; unreadable files keep the current ones', async () => {
    const next = selfSigned(dir, 'cp-two');
    fs.copyFileSync(next.certFile, server.certFile);
    fs.copyFileSync(next.keyFile, server.keyFile);
    await listener.reload();
    const options = {
      ca: fs.readFileSync(next.certFile),
      servername: 'cp-two',
      cert: fs.readFileSync(client.certFile),
      key: fs.readFileSync(client.keyFile),
    };
    assert.equal(await handshake(port, options), 'cp-two');
    fs.writeFileSync(server.keyFile, 'not a key');
    await assert.rejects(listener.reload(), /--xds-tls-cert\/--xds-tls-key\/--xds-client-ca: /);
    assert.equal(await handshake(port, options), 'cp-two');
  });

  test('offers TLS 1.2 with forward-secret AEAD suites only: a CBC-only client is refused', async () => {
    const options = {
      ca: fs.readFileSync(server.certFile),
      servername: 'cp-two',
      cert: fs.readFileSync(client.certFile),
      key: fs.readFileSync(client.keyFile),
      maxVersion: 'TLSv1.2' as const,
    };
    // Node's own default list would accept this suite (ECDHE, but CBC with SHA-256).
    const cbc = await handshake(port, { ...options, ciphers: 'ECDHE-ECDSA-AES128-SHA256' });
    assert.ok(cbc instanceof Error, `a CBC suite was negotiated: ${String(cbc)}`);
    assert.equal(
      await handshake(port, { ...options, ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' }),
      'cp-two',
    );
  });
});

async function waitFor(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met within 10 s');
    await new Promise((r) => setTimeout(r, 20));
  }
}
