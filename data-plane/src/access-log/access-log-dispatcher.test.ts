import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createLogger } from '@ferry/shared';
import type { AccessLogModel, ListenerModel, ProxyConfig } from '../config/model.js';
import type { AccessLogEntry } from './access-log-record.js';
import { AccessLogDispatcher } from './access-log-dispatcher.js';
import type { AccessLogSink } from './access-log-sink.js';
import { chainModel, listenerModel } from '../listener/listener-test-fixtures.js';

const logger = createLogger('test', 'silent');

class MemorySink implements AccessLogSink {
  lines: string[] = [];
  closed = false;
  dropped = 0;
  reopened = 0;
  write(line: string): void {
    this.lines.push(line);
  }
  reopen(): void {
    this.reopened++;
  }
  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}

function listener(name: string, accessLogs: AccessLogModel[]): ListenerModel {
  return listenerModel({
    name,
    filterChains: [
      chainModel({
        http: {
          statPrefix: name,
          accessLogs,
        } as unknown as ListenerModel['filterChains'][0]['http'],
      }),
    ],
  });
}

const config = (listeners: ListenerModel[]): ProxyConfig => ({
  version: 'v',
  listeners,
  routeConfigs: {},
  clusters: {},
});

const entry = (listenerName: string, status: number, flags: string): AccessLogEntry => ({
  listener: listenerName,
  method: 'GET',
  authority: 'a',
  path: '/',
  protocol: 'HTTP/1.1',
  status,
  responseFlags: flags,
  durationMs: 1,
  route: '',
  cluster: '',
  upstreamHost: '',
  requestId: 'r',
  attempts: 1,
});

describe('AccessLogDispatcher', () => {
  test('routes entries to their listener’s loggers, shares and closes file sinks by path', async () => {
    const files = new Map<string, MemorySink>();
    const stdout = new MemorySink();
    const dispatcher = new AccessLogDispatcher({
      logger,
      openFile: (p) => {
        const sink = new MemorySink();
        files.set(p, sink);
        return sink;
      },
      stdout: () => stdout,
    });
    const file: AccessLogModel = {
      name: 'f',
      sink: 'file',
      path: '/x.log',
      textFormat: '%RESPONSE_CODE% %RESPONSE_FLAGS%\n',
    };
    const json: AccessLogModel = {
      name: 'j',
      sink: 'stdout',
      jsonFormat: { code: '%RESPONSE_CODE%' },
    };
    dispatcher.apply(
      config([listener('a', [file, json]), listener('b', [file]), listener('quiet', [])]),
    );
    assert.equal(dispatcher.active, true);
    dispatcher.log(entry('a', 200, '-'));
    dispatcher.log(entry('b', 404, 'NR'));
    dispatcher.log(entry('quiet', 503, 'UH'));
    assert.equal(files.size, 1, 'one sink per path');
    assert.deepEqual(files.get('/x.log')!.lines, ['200 -\n', '404 NR\n']);
    assert.deepEqual(stdout.lines, ['{"code":200}\n']);

    dispatcher.apply(config([listener('a', [])]));
    assert.equal(files.get('/x.log')!.closed, true, 'a file no config names is closed');
    assert.equal(dispatcher.active, false);
    await dispatcher.close();
    assert.equal(stdout.closed, true);
  });

  test('writes to a real file asynchronously and flushes on close', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-al-'));
    try {
      const file = path.join(dir, 'access.log');
      const dispatcher = new AccessLogDispatcher({ logger });
      dispatcher.apply(
        config([
          listener('a', [{ name: 'f', sink: 'file', path: file, textFormat: '%RESPONSE_CODE%\n' }]),
        ]),
      );
      for (let i = 0; i < 1000; i++) dispatcher.log(entry('a', 200 + (i % 3), '-'));
      await dispatcher.close();
      const lines = fs.readFileSync(file, 'utf8').trimEnd().split('\n');
      assert.equal(lines.length, 1000);
      assert.deepEqual(lines.slice(0, 3), ['200', '201', '202']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
