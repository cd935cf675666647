/// <reference types="node" />
/**
 * The feed against a real HTTP server speaking text/event-stream: it sends the Authorization
 * header, and after the server ends a stream it reconnects with `since` = the last event id, so
 * the events of both connections arrive once each, in order.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readEventStream } from '@ferry/shared/event-stream';
import { EventFeed, type FeedEvent, type FeedState } from './events.js';

test('resumes after a dropped stream from the last event id', async () => {
  const requests: Array<{ url: string; authorization: string | undefined }> = [];
  const server = createServer((req: IncomingMessage, res) => {
    requests.push({ url: req.url ?? '', authorization: req.headers.authorization });
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    if (requests.length === 1) {
      // Split mid-event: the reader must join the chunks.
      res.write(': ping\n\nid: 7\nevent: node\ndata: {"node_id":');
      res.end('"a"}\n\n');
    } else {
      res.write('id: 8\nevent: store\ndata: {"revision":2}\n\n');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const events: FeedEvent[] = [];
  const states: FeedState[] = [];
  let done: () => void = () => undefined;
  const second = new Promise<void>((resolve) => (done = resolve));
  const feed = new EventFeed(
    { authorization: 'Bearer t0ken' },
    {
      event: (e) => {
        events.push(e);
        if (events.length === 2) done();
      },
      state: (s) => states.push(s),
    },
    readEventStream,
    `http://127.0.0.1:${port}`,
  );
  try {
    feed.start();
    await second;
  } finally {
    feed.stop();
    server.closeAllConnections();
    server.close();
  }
  assert.deepEqual(
    events.map((e) => [e.id, e.type, e.data]),
    [
      ['7', 'node', { node_id: 'a' }],
      ['8', 'store', { revision: 2 }],
    ],
  );
  assert.deepEqual(requests, [
    { url: '/v1/events', authorization: 'Bearer t0ken' },
    { url: '/v1/events?since=7', authorization: 'Bearer t0ken' },
  ]);
  assert.ok(states.includes('retrying'), `states: ${states.join(', ')}`);
});
