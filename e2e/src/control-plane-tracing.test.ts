/**
 * The control plane's traces, with real processes: an OTLP receiver, a control plane
 * exporting to it (OTLP/gRPC, and OTLP/HTTP protobuf), ferryctl applying with a caller's
 * `traceparent`, and a raw ADS client that ACKs or NACKs. One apply's trace holds apply →
 * validate, store.commit, snapshot.build; each push is its own `xds.push` span, linked to the
 * apply, carrying the node id and ended by the ACK or the NACK.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  ferryctl,
  startControlPlane,
  stopAll,
  waitForPublished,
  type CommandResult,
  type ControlPlane,
} from './harness.js';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from './otlp-receiver.js';
import { RawAdsClient } from './raw-ads-client.js';

const CDS = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';
const SERVER = 2;
const PRODUCER = 4;
const STATUS_ERROR = 2;

function clusterYaml(name: string, connectTimeout = '1s'): string {
  return `"@type": ${CDS}
name: ${name}
type: STATIC
connect_timeout: ${connectTimeout}
load_assignment:
  cluster_name: ${name}
  endpoints:
    - lb_endpoints:
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 8080 } } }
`;
}

function ok(result: CommandResult, what: string): CommandResult {
  assert.equal(result.code, 0, `${what} failed (${result.code}): ${result.stderr}`);
  return result;
}

/** ferryctl apply with FERRY_TRACEPARENT set (ferryctl inherits this process's environment). */
async function applyTraced(cp: ControlPlane, yaml: string, traceparent: string): Promise<void> {
  process.env.FERRY_TRACEPARENT = traceparent;
  try {
    ok(await ferryctl(cp.apiUrl, ['apply', '-f', '-'], yaml), 'apply');
  } finally {
    delete process.env.FERRY_TRACEPARENT;
  }
}

function newTraceparent(): { traceparent: string; traceId: string; parentId: string } {
  const traceId = randomBytes(16).toString('hex');
  const parentId = randomBytes(8).toString('hex');
  return { traceparent: `00-${traceId}-${parentId}-01`, traceId, parentId };
}

const named = (spans: readonly ReceivedSpan[], name: string, traceId: string): ReceivedSpan[] =>
  spans.filter((s) => s.name === name && s.traceId === traceId);

function pushesLinkedTo(spans: readonly ReceivedSpan[], apply: ReceivedSpan): ReceivedSpan[] {
  return spans.filter(
    (s) =>
      s.name === 'xds.push' &&
      s.links.some((l) => l.traceId === apply.traceId && l.spanId === apply.spanId),
  );
}

const ENV = { OTEL_BSP_SCHEDULE_DELAY: '100' };

void describe('control-plane tracing', () => {
  let receiver: OtlpReceiver;
  before(async () => {
    receiver = await startOtlpReceiver();
  });
  after(async () => {
    await stopAll();
    await receiver.close();
  });

  void describe('OTLP/gRPC', () => {
    let cp: ControlPlane;
    let ads: RawAdsClient;
    before(async () => {
      cp = await startControlPlane({
        store: 'memory:',
        args: ['--otlp-endpoint', receiver.grpcAddress, '--otlp-protocol', 'grpc'],
        env: ENV,
      });
      ads = new RawAdsClient(cp.xdsAddress, 'node-a');
      ads.request(CDS, []);
      ads.request(CDS, [], await ads.next());
    });
    after(async () => {
      ads.close();
      await cp.stop();
    });

    void test('an apply is one trace under the caller; its push is linked, names the node and ends with the ACK', async () => {
      const { traceparent, traceId, parentId } = newTraceparent();
      await applyTraced(cp, clusterYaml('c1'), traceparent);
      const push = await ads.next();
      ads.request(CDS, [], push);

      const spans = await receiver.waitForSpans((all) => {
        const apply = named(all, 'apply', traceId)[0];
        return (
          apply !== undefined &&
          named(all, 'snapshot.build', traceId).length > 0 &&
          pushesLinkedTo(all, apply).some((p) => p.attributes['xds.outcome'] === 'ack')
        );
      });
      const [apply] = named(spans, 'apply', traceId);
      assert.ok(apply);
      assert.equal(apply.parentSpanId, parentId, 'the apply is a child of the caller');
      assert.equal(apply.kind, SERVER);
      assert.equal(apply.serviceName, 'ferry-control-plane');
      assert.equal(apply.transport, 'grpc');
      assert.equal(apply.attributes['ferry.group'], 'default');
      assert.equal(apply.attributes['ferry.resources'], 1);
      assert.equal(apply.attributes['ferry.dry_run'], false);
      assert.equal(apply.attributes['ferry.outcome'], 'applied');
      assert.equal(apply.attributes['ferry.revision'], 1);
      for (const child of ['validate', 'store.commit', 'snapshot.build']) {
        const [span] = named(spans, child, traceId);
        assert.ok(span, `${child} in the apply's trace`);
        assert.equal(span.parentSpanId, apply.spanId, `${child} is a child of apply`);
      }
      assert.equal(named(spans, 'store.commit', traceId)[0]!.attributes['ferry.revision'], 1);
      assert.match(
        String(named(spans, 'snapshot.build', traceId)[0]!.attributes['ferry.types']),
        /CDS/,
      );

      const [pushSpan] = pushesLinkedTo(spans, apply);
      assert.ok(pushSpan);
      assert.notEqual(pushSpan.traceId, traceId, 'a push is a trace of its own');
      assert.equal(pushSpan.parentSpanId, '');
      assert.equal(pushSpan.kind, PRODUCER);
      assert.equal(pushSpan.attributes['xds.node.id'], 'node-a');
      assert.equal(pushSpan.attributes['xds.type_url'], CDS);
      assert.equal(pushSpan.attributes['xds.version'], push.version_info);
      assert.equal(pushSpan.attributes['xds.nonce'], push.nonce);
      assert.equal(pushSpan.attributes['xds.outcome'], 'ack');
      assert.notEqual(pushSpan.status.code, STATUS_ERROR);
    });

    void test('a NACKed push ends in error with the error_detail', async () => {
      const { traceparent, traceId } = newTraceparent();
      await applyTraced(cp, clusterYaml('c1', '3s'), traceparent);
      const push = await ads.next();
      ads.request(CDS, [], push, 'c1: connect_timeout too long for this proxy');

      const spans = await receiver.waitForSpans((all) => {
        const apply = named(all, 'apply', traceId)[0];
        return apply !== undefined && pushesLinkedTo(all, apply).length > 0;
      });
      const [apply] = named(spans, 'apply', traceId);
      const [pushSpan] = pushesLinkedTo(spans, apply!);
      assert.equal(pushSpan!.attributes['xds.node.id'], 'node-a');
      assert.equal(pushSpan!.attributes['xds.nonce'], push.nonce);
      assert.equal(pushSpan!.attributes['xds.outcome'], 'nack');
      assert.equal(
        pushSpan!.attributes['xds.nack.error'],
        'c1: connect_timeout too long for this proxy',
      );
      assert.equal(pushSpan!.status.code, STATUS_ERROR);
      assert.equal(pushSpan!.status.message, 'c1: connect_timeout too long for this proxy');
    });

    void test('an invalid apply is recorded with its outcome and an error status; nothing is pushed', async () => {
      const { traceparent, traceId } = newTraceparent();
      process.env.FERRY_TRACEPARENT = traceparent;
      let result: CommandResult;
      try {
        result = await ferryctl(
          cp.apiUrl,
          ['apply', '-f', '-'],
          `${clusterYaml('c2')}bogus_field: 1\n`,
        );
      } finally {
        delete process.env.FERRY_TRACEPARENT;
      }
      assert.equal(result.code, 1, result.stderr);
      const spans = await receiver.waitForSpans(
        (all) =>
          named(all, 'apply', traceId).length > 0 && named(all, 'validate', traceId).length > 0,
      );
      const [apply] = named(spans, 'apply', traceId);
      assert.equal(apply!.attributes['ferry.outcome'], 'invalid');
      assert.equal(apply!.status.code, STATUS_ERROR);
      assert.equal(named(spans, 'validate', traceId)[0]!.status.code, STATUS_ERROR);
      assert.equal(named(spans, 'store.commit', traceId).length, 0);
    });
  });

  void test('OTLP/HTTP protobuf: an apply without a caller is a root span with its children, flushed at shutdown', async () => {
    receiver.clear();
    const cp = await startControlPlane({
      store: 'memory:',
      args: ['--otlp-endpoint', receiver.httpUrl, '--otlp-protocol', 'http'],
      // No timed export within the test: the spans can only arrive through the shutdown flush.
      env: { OTEL_BSP_SCHEDULE_DELAY: '600000' },
    });
    try {
      ok(await ferryctl(cp.apiUrl, ['apply', '-f', '-'], clusterYaml('h1')), 'apply');
      // snapshot.build is the publish, ~100 ms after the apply (debounced): a shutdown before it
      // drops the pending publish (the store has the change; the next start publishes it).
      await waitForPublished(cp, CDS, ['h1']);
      assert.equal(receiver.spans.length, 0);
      await cp.stop();
      const spans = await receiver.waitForSpans((all) =>
        ['apply', 'validate', 'store.commit', 'snapshot.build'].every((n) =>
          all.some((s) => s.name === n && s.transport === 'http'),
        ),
      );
      const apply = spans.find((s) => s.name === 'apply')!;
      assert.equal(apply.parentSpanId, '');
      for (const child of ['validate', 'store.commit', 'snapshot.build']) {
        const span = spans.find((s) => s.name === child)!;
        assert.equal(span.traceId, apply.traceId);
        assert.equal(span.parentSpanId, apply.spanId);
      }
    } finally {
      await cp.stop();
    }
  });
});
