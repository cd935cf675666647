/**
 * Network filter iteration with fake filters and a fake socket: order, `stop` held until
 * continueReading(), close() ending the iteration, and onClose for a filter holding a connection
 * that went away.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type {
  NetworkConnection,
  NetworkFilter,
  NetworkFilterCallbacks,
  NetworkFilterStatus,
} from '../filters/network/filter.js';
import { NetworkFilterRun } from './network-filter-manager.js';

class FakeSocket extends EventEmitter {
  destroyed = false;
  destroy(): void {
    this.destroyed = true;
    this.emit('close');
  }
}

interface Harness {
  readonly events: string[];
  readonly socket: FakeSocket;
  /** Callbacks each filter got, by name. */
  readonly callbacks: Map<string, NetworkFilterCallbacks>;
  run: NetworkFilterRun;
}

function harness(filters: [name: string, status: NetworkFilterStatus][]): Harness {
  const events: string[] = [];
  const socket = new FakeSocket();
  const callbacks = new Map<string, NetworkFilterCallbacks>();
  const factories = filters.map(([name, status]) => ({
    create: (): NetworkFilter => ({
      onNewConnection(_connection, cb) {
        events.push(name);
        callbacks.set(name, cb);
        return status;
      },
      onClose: () => events.push(`${name}:closed`),
    }),
  }));
  const connection = { socket } as unknown as NetworkConnection;
  const run = new NetworkFilterRun(connection, factories, {
    takeConnection: () => events.push('terminal'),
  });
  return { events, socket, callbacks, run };
}

describe('NetworkFilterRun', () => {
  test('filters run in order, then the terminal filter takes the connection', () => {
    const h = harness([
      ['rbac', 'continue'],
      ['ratelimit', 'continue'],
    ]);
    h.run.start();
    assert.deepEqual(h.events, ['rbac', 'ratelimit', 'terminal']);
  });

  test('stop holds the iteration until continueReading()', () => {
    const h = harness([
      ['authz', 'stop'],
      ['ratelimit', 'continue'],
    ]);
    h.run.start();
    assert.deepEqual(h.events, ['authz']);
    h.callbacks.get('authz')!.continueReading();
    assert.deepEqual(h.events, ['authz', 'ratelimit', 'terminal']);
    h.callbacks.get('authz')!.continueReading();
    assert.deepEqual(h.events, ['authz', 'ratelimit', 'terminal'], 'a second resume is ignored');
  });

  test('close() from a holding filter destroys the socket and nothing else runs', () => {
    const h = harness([
      ['authz', 'stop'],
      ['ratelimit', 'continue'],
    ]);
    h.run.start();
    h.callbacks.get('authz')!.close();
    h.callbacks.get('authz')!.continueReading();
    assert.equal(h.socket.destroyed, true);
    assert.deepEqual(h.events, ['authz']);
  });

  test('the connection closing while a filter holds it: onClose, and no terminal', () => {
    const h = harness([['authz', 'stop']]);
    h.run.start();
    h.socket.emit('close');
    h.callbacks.get('authz')!.continueReading();
    assert.deepEqual(h.events, ['authz', 'authz:closed']);
  });
});
