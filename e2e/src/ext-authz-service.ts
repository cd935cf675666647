/**
 * An external authorization service for the ext_authz e2e test, run as its own process
 * (`node e2e/dist/ext-authz-service.js`): the gRPC envoy.service.auth.v3.Authorization/Check
 * (HTTP/2 cleartext) and a raw HTTP authorization service, each on a random loopback port,
 * printed as one JSON line on stdout: `{"grpcPort": N, "httpPort": M}`.
 *
 * Both decide by the request's `x-authz` header:
 * - `allow`: OK; the upstream request gets x-auth-user (the x-user header, or "anonymous"),
 *   x-auth-context (the context extensions, sorted JSON; gRPC only), x-auth-body (the body the
 *   service received) and loses x-secret; the client's response gets x-auth-checked;
 * - `deny`: gRPC PERMISSION_DENIED with a 401 denied_response / HTTP 401, body
 *   "denied by authz", www-authenticate and x-deny-reason headers;
 * - `fail`: gRPC INTERNAL / HTTP 500 (the filter's error path);
 * - `hang`: no answer (the filter's timeout);
 * - anything else or none: denied (403 without a denied_response).
 */
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { createMessage, decodeBinary, encodeBinary, requireMessageSchema } from '@ferry/proto';

const CHECK_REQUEST = requireMessageSchema('envoy.service.auth.v3.CheckRequest');
const CHECK_RESPONSE = requireMessageSchema('envoy.service.auth.v3.CheckResponse');

interface CheckRequest {
  attributes?: {
    contextExtensions: Record<string, string>;
    request?: { http?: { headers: Record<string, string>; body: string; rawBody: Uint8Array } };
  };
}

function sortedJson(object: Record<string, string>): string {
  return JSON.stringify(
    Object.fromEntries(Object.entries(object).sort(([a], [b]) => (a < b ? -1 : 1))),
  );
}

function header(key: string, value: string): Record<string, unknown> {
  return { header: { key, value } };
}

/** The CheckResponse for a check, or undefined to leave it unanswered. */
function decide(check: CheckRequest): Record<string, unknown> | 'hang' | 'fail' {
  const attributes = check.attributes;
  const headers = attributes?.request?.http?.headers ?? {};
  const verdict = headers['x-authz'];
  if (verdict === 'hang') return 'hang';
  if (verdict === 'fail') return 'fail';
  if (verdict === 'allow') {
    const httpRequest = attributes?.request?.http;
    const body =
      httpRequest === undefined
        ? ''
        : httpRequest.body !== ''
          ? httpRequest.body
          : Buffer.from(httpRequest.rawBody).toString('utf8');
    return {
      status: { code: 0 },
      dynamicMetadata: { user: headers['x-user'] ?? 'anonymous' },
      httpResponse: {
        case: 'okResponse',
        value: {
          headers: [
            header('x-auth-user', headers['x-user'] ?? 'anonymous'),
            header('x-auth-context', sortedJson(attributes?.contextExtensions ?? {})),
            header('x-auth-body', body),
          ],
          headersToRemove: ['x-secret'],
          responseHeadersToAdd: [header('x-auth-checked', 'grpc')],
        },
      },
    };
  }
  if (verdict === 'deny')
    return {
      status: { code: 7 },
      httpResponse: {
        case: 'deniedResponse',
        value: {
          status: { code: 401 },
          body: 'denied by authz',
          headers: [
            header('www-authenticate', 'Bearer realm="ferry"'),
            header('x-deny-reason', 'grpc'),
          ],
        },
      },
    };
  return { status: { code: 7 } };
}

function frame(message: Uint8Array): Buffer {
  const out = Buffer.alloc(5 + message.length);
  out.writeUInt32BE(message.length, 1);
  out.set(message, 5);
  return out;
}

const grpcServer = http2.createServer();
grpcServer.on('stream', (stream, headers) => {
  const chunks: Buffer[] = [];
  stream.on('error', () => undefined);
  stream.on('data', (c: Buffer) => chunks.push(c));
  stream.on('end', () => {
    if (headers[':path'] !== '/envoy.service.auth.v3.Authorization/Check') {
      stream.respond(
        { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '12' },
        { endStream: true },
      );
      return;
    }
    const body = Buffer.concat(chunks);
    const check = decodeBinary(CHECK_REQUEST, body.subarray(5)) as unknown as CheckRequest;
    const response = decide(check);
    if (response === 'hang') return;
    if (response === 'fail') {
      stream.respond(
        {
          ':status': 200,
          'content-type': 'application/grpc',
          'grpc-status': '13',
          'grpc-message': 'policy%20engine%20down',
        },
        { endStream: true },
      );
      return;
    }
    stream.respond(
      { ':status': 200, 'content-type': 'application/grpc' },
      { waitForTrailers: true },
    );
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    stream.end(frame(encodeBinary(CHECK_RESPONSE, createMessage(CHECK_RESPONSE, response))));
  });
});

const httpServer = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const verdict = req.headers['x-authz'];
    if (verdict === 'hang') return;
    if (verdict === 'fail') {
      res.writeHead(500).end('policy engine down');
      return;
    }
    if (verdict === 'allow') {
      res.writeHead(200, {
        'x-auth-user': String(req.headers['x-user'] ?? 'anonymous'),
        'x-auth-request': `${req.method} ${req.url}`,
        'x-auth-body': Buffer.concat(chunks).toString('utf8'),
        'x-auth-checked': 'http',
        'x-envoy-auth-headers-to-remove': 'x-secret',
      });
      res.end();
      return;
    }
    res.writeHead(401, { 'www-authenticate': 'Basic realm="ferry"', 'x-deny-reason': 'http' });
    res.end('denied by authz');
  });
});

await new Promise<void>((resolve) => grpcServer.listen(0, '127.0.0.1', resolve));
await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
process.stdout.write(
  `${JSON.stringify({
    grpcPort: (grpcServer.address() as AddressInfo).port,
    httpPort: (httpServer.address() as AddressInfo).port,
  })}\n`,
);
process.once('SIGTERM', () => process.exit(0));
