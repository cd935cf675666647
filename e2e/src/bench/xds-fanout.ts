/**
 * One xDS fan-out measurement: one or more control-plane replicas on a fresh shared store (SQLite
 * for one replica, or etcd), N simulated ADS clients spread round-robin over the replicas and
 * connected in batches until each has ACKed the initial config, then one apply through the first
 * replica that changes one cluster's endpoints, timed to each client's ACK of the new EDS version
 * (from just before the apply request, and from the apply's response). Reports; never asserts.
 */
import fs from 'node:fs';
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import { startEtcd, type EtcdCluster } from '@ferry/shared/testing/etcd';
import { startControlPlane, stopAll, type ControlPlane } from '../harness.js';
import { AdsClient, type AdsClientEvents, type ClientCounters } from './ads-client.js';
import {
  baseConfig,
  hasUpdatedEndpoint,
  updatedConfig,
  type BenchConfigOptions,
} from './bench-config.js';
import { summarizeCpuProfile, type ProfileSummary } from './cpu-profile-summary.js';
import { summarize, type LatencySummary } from './latency-summary.js';
import {
  applyResources,
  parsePrometheusText,
  readXdsCounters,
  type XdsCounters,
} from './management-client.js';
import { sampleProcess, type ProcSample } from './proc-stats.js';
import { Deadline, Progress, RunAborted, sleep } from './run-control.js';
import type { H2ClientKind } from './h2-stream.js';
import { TYPE_URL, XdsCodec } from './xds-codec.js';

export interface FanoutOptions extends BenchConfigOptions {
  readonly clients: number;
  /** The simulated clients' HTTP/2 client (h2-stream.ts). */
  readonly h2: H2ClientKind;
  /** Control-plane replicas sharing one store; client i connects to replica i mod replicas. */
  readonly replicas: number;
  /** `sqlite` (one replica only) or `etcd` (a member started here unless `etcdEndpoints`). */
  readonly store: 'sqlite' | 'etcd';
  /** host:port of an etcd cluster to use instead of starting one. */
  readonly etcdEndpoints?: readonly string[];
  /** Clients started together; the next batch starts when this one has its initial config. */
  readonly batchSize: number;
  readonly batchTimeoutMs: number;
  /**
   * Endpoint changes applied one after another (each moves the endpoint there or back), each
   * once every client has ACKed the previous one and UPDATE_PAUSE_MS have passed.
   */
  readonly updates: number;
  /** Passed as `--debounce-ms` when the control plane accepts it. */
  readonly debounceMs: number;
  /** Quiet time before memory samples, so allocation churn from connecting settles. */
  readonly settleMs: number;
  readonly updateTimeoutMs: number;
  /** Whole-run budget; when it runs out the run stops and reports what it has. */
  readonly budgetMs: number;
  /**
   * When set, the control plane's CPU is profiled during the connect phase and during each update
   * (cpu-profile-preload.ts), written here as connect.cpuprofile, update.cpuprofile (the first
   * update, summarized in the report), update-2.cpuprofile, ...
   */
  readonly cpuProfDir?: string;
  readonly log: (line: string) => void;
}

export interface UpdateSummary {
  readonly expected: number;
  readonly acked: number;
  readonly applyHttpMs: number;
  /** Just before the apply request → the client wrote its ACK of the new EDS version. */
  readonly applyToAck: LatencySummary;
  /** The apply's HTTP response arrived → the client wrote its ACK (negative: ACKed earlier). */
  readonly responseToAck?: LatencySummary;
  /** With several replicas: `responseToAck` of the clients of each replica, in replica order. */
  readonly responseToAckByReplica?: LatencySummary[];
  readonly contentVerified: boolean;
  readonly cpuSeconds: number;
  /** The part of `cpuSeconds` on the replicas' main threads (the rest: V8's and libuv's threads). */
  readonly mainThreadCpuSeconds: number;
  /** CPU of this (client) process over the same interval: the clients share the machine. */
  readonly benchProcessCpuSeconds: number;
  /** Responses of other types received while the update was in flight (should be 0). */
  readonly otherResponses: Record<string, number>;
  readonly timedOut: boolean;
}

/** Phase sections are absent when the run stopped before reaching that phase. */
export interface FanoutReport {
  readonly clients: number;
  /** The simulated clients' HTTP/2 client. */
  readonly h2: H2ClientKind;
  readonly startedAt: string;
  readonly machine: {
    nproc: number;
    cpuModel: string;
    memoryBytes: number;
    node: string;
    kernel: string;
  };
  readonly controlPlane?: {
    args: string[];
    debounceFlagAccepted: boolean;
    cpuProfDir?: string;
    replicas?: number;
    /** `sqlite` or `etcd` plus where the etcd came from (the prefix is random per run). */
    store?: string;
  };
  readonly config?: BenchConfigOptions;
  readonly connect?: {
    readonly ready: number;
    readonly failed: number;
    readonly complete: boolean;
    readonly durationS: number;
    /** Per client: connect → initial config (CDS, EDS, LDS, RDS) ACKed. */
    readonly initialConfig: LatencySummary;
    readonly cpuSeconds: number;
  };
  readonly memory?: {
    readonly idleRssBytes: number;
    readonly connectedRssBytes: number;
    readonly perClientBytes: number;
    readonly peakRssDuringUpdateBytes: number;
    readonly benchProcessRssBytes: number;
  };
  /** The first update (`profiles.update` with --cpu-prof; `bytes` counts it). */
  readonly update?: UpdateSummary;
  /** Every update, in order (the first is `update`). */
  readonly updates?: UpdateSummary[];
  readonly bytes?: {
    readonly source: string;
    readonly clientReceivedInitial: number;
    readonly clientReceivedUpdate: number;
    readonly clientSentTotal: number;
    /** Control-plane counters (delta over the update), when it exposes them. */
    readonly controlPlaneUpdate?: Record<string, number>;
    readonly controlPlaneTotal?: Record<string, number>;
  };
  /**
   * On etcd, after every client connected: etcd's own count of watchers and watch streams
   * (etcd_debugging_mvcc_watcher_total, etcd_debugging_mvcc_watch_stream_total) over every
   * member, to show that watches scale with replicas, not with proxies.
   */
  readonly etcdWatches?: { readonly watchers: number; readonly watchStreams: number };
  readonly failures: Record<string, number>;
  /** With `cpuProfDir`: where the control plane spent its CPU in each phase. */
  readonly profiles?: { connect?: ProfileSummary; update?: ProfileSummary };
  readonly aborted?: string;
}

/**
 * Between two updates: the replicas finish reading the last ACKs of the previous one (written
 * by then, but maybe not yet read) before the next apply starts the clock.
 */
const UPDATE_PAUSE_MS = 1000;

const SHORT_TYPE: Record<string, string> = {
  [TYPE_URL.cluster]: 'CDS',
  [TYPE_URL.endpoint]: 'EDS',
  [TYPE_URL.listener]: 'LDS',
  [TYPE_URL.route]: 'RDS',
};

function machine(): FanoutReport['machine'] {
  return {
    nproc: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryBytes: os.totalmem(),
    node: process.version,
    kernel: `${os.type()} ${os.release()}`,
  };
}

/** Starts the control plane, with `--debounce-ms` if this build accepts the flag. */
async function startFanoutControlPlane(
  options: FanoutOptions,
  store: string | undefined,
): Promise<{ cp: ControlPlane; args: string[]; debounceFlagAccepted: boolean }> {
  const env: Record<string, string> = {};
  if (options.cpuProfDir) {
    const preload = pathToFileURL(path.join(import.meta.dirname, 'cpu-profile-preload.js')).href;
    env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --import=${preload}`.trim();
    env.FERRY_BENCH_CPU_PROF_DIR = options.cpuProfDir;
  }
  const withFlag = ['--debounce-ms', String(options.debounceMs)];
  try {
    return {
      cp: await startControlPlane({ store, args: withFlag, env }),
      args: withFlag,
      debounceFlagAccepted: true,
    };
  } catch (err) {
    if (!/debounce/i.test((err as Error).message)) throw err;
    options.log(`control plane rejected --debounce-ms; starting it with its default debounce`);
    return { cp: await startControlPlane({ store, env }), args: [], debounceFlagAccepted: false };
  }
}

/** The store every replica shares: a fresh SQLite file, or a random prefix on etcd. */
async function fanoutStore(
  options: FanoutOptions,
): Promise<{ store: string | undefined; etcd?: EtcdCluster; description: string }> {
  if (options.store === 'sqlite') {
    if (options.replicas !== 1)
      throw new Error('--replicas: several replicas need a shared store (--store etcd)');
    return { store: undefined, description: 'sqlite' };
  }
  const etcd = options.etcdEndpoints ? undefined : await startEtcd();
  const endpoints = options.etcdEndpoints ?? etcd!.endpoints;
  const prefix = `bench/${randomUUID()}`;
  return {
    store: `etcd://${endpoints.join(',')}/${prefix}`,
    etcd,
    description: `etcd (${etcd ? 'one member started by the bench' : endpoints.join(',')})`,
  };
}

/** etcd's watcher and watch-stream gauges summed over its members (plain http members only). */
async function etcdWatchCounts(
  endpoints: readonly string[],
): Promise<FanoutReport['etcdWatches'] | undefined> {
  let watchers = 0;
  let watchStreams = 0;
  for (const endpoint of endpoints) {
    try {
      const response = await fetch(`http://${endpoint}/metrics`, {
        signal: AbortSignal.timeout(10_000),
      });
      const values = parsePrometheusText(await response.text());
      watchers += values.get('etcd_debugging_mvcc_watcher_total') ?? 0;
      watchStreams += values.get('etcd_debugging_mvcc_watch_stream_total') ?? 0;
    } catch {
      return undefined;
    }
  }
  return { watchers, watchStreams };
}

/** Sum of the processes' RSS and CPU time: the replicas run on the same machine. */
function sampleAll(pids: readonly number[]): ProcSample {
  let rssBytes = 0;
  let cpuSeconds = 0;
  let mainThreadCpuSeconds = 0;
  for (const pid of pids) {
    const sample = sampleProcess(pid);
    rssBytes += sample.rssBytes;
    cpuSeconds += sample.cpuSeconds;
    mainThreadCpuSeconds += sample.mainThreadCpuSeconds;
  }
  return { rssBytes, cpuSeconds, mainThreadCpuSeconds };
}

/** Every replica's `*xds*` counters, summed; undefined when any replica exposes none. */
async function readAllCounters(cps: readonly ControlPlane[]): Promise<XdsCounters | undefined> {
  const all = await Promise.all(cps.map((c) => readXdsCounters(c.apiUrl)));
  if (all.some((c) => c === undefined)) return undefined;
  const values = new Map<string, number>();
  for (const counters of all)
    for (const [name, value] of counters!.values) values.set(name, (values.get(name) ?? 0) + value);
  return { path: all[0]!.path, values };
}

/**
 * Toggles the preloaded profiler in the control plane (SIGUSR2); stopping waits for the n-th
 * profile file and renames it to `<phase>.cpuprofile`. A no-op without `cpuProfDir`.
 */
class PhaseProfiler {
  private stopped = 0;

  constructor(
    private readonly pid: number,
    private readonly dir: string | undefined,
  ) {}

  start(): void {
    if (this.dir) process.kill(this.pid, 'SIGUSR2');
  }

  async stop(phase: string, deadline: Deadline): Promise<ProfileSummary | undefined> {
    if (!this.dir) return undefined;
    process.kill(this.pid, 'SIGUSR2');
    const written = path.join(this.dir, `profile-${++this.stopped}.cpuprofile`);
    const wait = async (): Promise<void> => {
      while (!fs.existsSync(written)) await sleep(100);
    };
    await deadline.race(wait(), `the ${phase} CPU profile`, 60_000);
    const file = path.join(this.dir, `${phase}.cpuprofile`);
    fs.renameSync(written, file);
    return summarizeCpuProfile(file);
  }
}

function counterRecord(counters: XdsCounters | undefined): Record<string, number> | undefined {
  return counters ? Object.fromEntries(counters.values) : undefined;
}

function counterDelta(
  before: XdsCounters | undefined,
  after: XdsCounters | undefined,
): Record<string, number> | undefined {
  if (!before || !after) return undefined;
  return Object.fromEntries(
    [...after.values].map(([name, value]) => [name, value - (before.values.get(name) ?? 0)]),
  );
}

/** Runs the whole measurement; always stops every client and the control plane before returning. */
export async function runFanout(options: FanoutOptions): Promise<FanoutReport> {
  const startedAt = new Date().toISOString();
  const deadline = new Deadline(options.budgetMs);
  const onSignal = (signal: string): void =>
    deadline.abort(new RunAborted(`interrupted by ${signal}`));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const counters: ClientCounters = { bytesReceived: 0, bytesSent: 0, responses: 0, requests: 0 };
  const clients: AdsClient[] = [];
  const progress = new Progress();
  const failures = new Map<string, number>();
  let ready = 0;
  let failed = 0;
  let failedAfterReady = 0;

  // Update-phase state, set just before the apply request.
  let updateStartMs = -1;
  let edsVersionAtUpdate = new Map<AdsClient, string>();
  let updateLatencies: number[] = [];
  let updated = new Set<AdsClient>();
  /** Whether the update in flight moves the endpoint to the updated port (or back). */
  let movesEndpoint = true;
  /** Clients that were expected to ACK the update but failed before they did. */
  let lostDuringUpdate = 0;
  let otherResponses: Record<string, number> = {};
  let contentVerified = false;

  const events: AdsClientEvents = {
    onAck(client, typeUrl, version, atMs, response) {
      if (updateStartMs < 0) return;
      const before = edsVersionAtUpdate.get(client);
      if (
        typeUrl === TYPE_URL.endpoint &&
        before !== undefined &&
        version !== before &&
        !updated.has(client)
      ) {
        if (updated.size === 0)
          contentVerified = hasUpdatedEndpoint(codec.resourcesJson(response)) === movesEndpoint;
        updated.add(client);
        updateLatencies.push(atMs - updateStartMs);
        updateReplicas.push(replicaOf.get(client) ?? 0);
        progress.notify();
      } else {
        const type = SHORT_TYPE[typeUrl] ?? typeUrl;
        otherResponses[type] = (otherResponses[type] ?? 0) + 1;
      }
    },
    onReady() {
      ready++;
      progress.notify();
    },
    onFailed(client, error) {
      failed++;
      if (client.readyAtMs > 0) failedAfterReady++;
      if (edsVersionAtUpdate.has(client) && !updated.has(client)) lostDuringUpdate++;
      const key = error.message.slice(0, 160);
      failures.set(key, (failures.get(key) ?? 0) + 1);
      progress.notify();
    },
  };

  const codec = new XdsCodec();
  const cps: ControlPlane[] = [];
  let etcd: EtcdCluster | undefined;
  /** Replica index of each client, and of each entry of updateLatencies. */
  const replicaOf = new Map<AdsClient, number>();
  let updateReplicas: number[] = [];
  const report: { -readonly [K in keyof FanoutReport]?: FanoutReport[K] } = {
    clients: options.clients,
    h2: options.h2,
    startedAt,
    machine: machine(),
  };
  let timedOutUpdate = false;
  try {
    const shared = await deadline.race(fanoutStore(options), 'the store to start', 60_000);
    etcd = shared.etcd;
    let started: Awaited<ReturnType<typeof startFanoutControlPlane>> | undefined;
    for (let r = 0; r < options.replicas; r++) {
      started = await deadline.race(
        startFanoutControlPlane(options, shared.store),
        `control-plane replica ${r} to start`,
        60_000,
      );
      const replica = started.cp;
      cps.push(replica);
      replica.proc.once('exit', (code, signal) =>
        deadline.abort(new Error(`control plane ${r} exited (${code ?? signal})`)),
      );
      options.log(
        `control plane ${r} pid ${replica.proc.pid}: xDS ${replica.xdsAddress}, API ${replica.apiUrl}`,
      );
    }
    const cp = cps[0]!;
    // Profiles cover the first replica, the one the applies go through.
    const pid = cp.proc.pid!;
    const pids = cps.map((c) => c.proc.pid!);
    report.controlPlane = {
      args: started!.args,
      debounceFlagAccepted: started!.debounceFlagAccepted,
      cpuProfDir: options.cpuProfDir,
      replicas: options.replicas,
      store: shared.description,
    };
    report.config = {
      clusters: options.clusters,
      endpointsPerCluster: options.endpointsPerCluster,
    };

    await deadline.race(
      applyResources(cp.apiUrl, 'default', baseConfig(options)),
      'the base apply',
    );
    await sleep(options.debounceMs + options.settleMs);
    const idle = sampleAll(pids);
    const countersIdle = await readAllCounters(cps);

    // Connect in batches: the control plane's accept backlog and both processes' fd limits are
    // finite, and real fleets reconnect in waves, not in one SYN flood.
    const profiler = new PhaseProfiler(pid, options.cpuProfDir);
    const profiles: NonNullable<FanoutReport['profiles']> = {};
    report.profiles = options.cpuProfDir ? profiles : undefined;
    profiler.start();
    const connectStart = performance.now();
    let connectComplete = true;
    for (let first = 0; first < options.clients; first += options.batchSize) {
      const end = Math.min(options.clients, first + options.batchSize);
      for (let i = first; i < end; i++) {
        const client = new AdsClient({
          address: cps[i % cps.length]!.xdsAddress,
          nodeId: `bench-node-${i}`,
          nodeCluster: 'default',
          codec,
          counters,
          events,
          h2: options.h2,
        });
        clients.push(client);
        replicaOf.set(client, i % cps.length);
        client.start();
      }
      try {
        await deadline.race(
          progress.until(() => ready + failed - failedAfterReady >= end),
          `batch ending at client ${end}`,
          options.batchTimeoutMs,
        );
      } catch (err) {
        if (deadline.abortedReason) throw err;
        options.log(`connect stopped: ${(err as Error).message}`);
        connectComplete = false;
        break;
      }
      if (end % Math.max(options.batchSize, 1000) === 0 || end === options.clients) {
        options.log(`connected ${end}/${options.clients}: ready ${ready}, failed ${failed}`);
      }
    }
    const connectDurationS = (performance.now() - connectStart) / 1000;
    profiles.connect = await profiler.stop('connect', deadline);
    const receivedInitial = counters.bytesReceived;
    await deadline.race(sleep(options.settleMs), 'settling');
    const connected = sampleAll(pids);
    const live = clients.filter((c) => c.readyAtMs > 0 && c.isLive());
    report.connect = {
      ready,
      failed,
      complete: connectComplete,
      durationS: round(connectDurationS, 2),
      initialConfig: summarize(live.map((c) => c.readyAtMs - c.startedAtMs)),
      cpuSeconds: round(connected.cpuSeconds - idle.cpuSeconds, 2),
    };
    if (etcd || options.etcdEndpoints)
      report.etcdWatches = await etcdWatchCounts(etcd?.endpoints ?? options.etcdEndpoints!);
    const memory = {
      idleRssBytes: idle.rssBytes,
      connectedRssBytes: connected.rssBytes,
      perClientBytes:
        live.length > 0 ? Math.round((connected.rssBytes - idle.rssBytes) / live.length) : NaN,
      peakRssDuringUpdateBytes: connected.rssBytes,
      benchProcessRssBytes: process.memoryUsage().rss,
    };
    report.memory = memory;

    // The updates: each an apply that changes one endpoint of one cluster (there, then back).
    const countersBefore = await readAllCounters(cps);
    const receivedBefore = counters.bytesReceived;
    let receivedUpdate = 0;
    let countersAfter: Awaited<ReturnType<typeof readAllCounters>> = undefined;
    const updates: UpdateSummary[] = [];
    report.updates = updates;
    for (let u = 0; u < options.updates && !timedOutUpdate; u++) {
      if (u > 0) await deadline.race(sleep(UPDATE_PAUSE_MS), 'the pause between updates');
      movesEndpoint = u % 2 === 0;
      edsVersionAtUpdate = new Map();
      for (const client of clients)
        if (client.isLive()) edsVersionAtUpdate.set(client, client.ackedVersion(TYPE_URL.endpoint));
      updateLatencies = [];
      updateReplicas = [];
      updated = new Set();
      lostDuringUpdate = 0;
      otherResponses = {};
      contentVerified = false;
      const rssSampler = setInterval(() => {
        const sample = trySample(pids);
        if (sample)
          memory.peakRssDuringUpdateBytes = Math.max(
            memory.peakRssDuringUpdateBytes,
            sample.rssBytes,
          );
      }, 50);
      // Every update is profiled, so that the first can be compared with the later ones under
      // the same profiler overhead.
      profiler.start();
      const cpuBefore = sampleAll(pids);
      const benchCpuBefore = process.cpuUsage();
      updateStartMs = performance.now();
      let applyHttpMs = NaN;
      try {
        await deadline.race(
          applyResources(
            cp.apiUrl,
            'default',
            movesEndpoint ? updatedConfig(options) : baseConfig(options),
          ),
          'the update apply',
        );
        applyHttpMs = performance.now() - updateStartMs;
        // O(1) per check: it runs on every client event.
        await deadline.race(
          progress.until(() => updated.size + lostDuringUpdate >= edsVersionAtUpdate.size),
          'every client to ACK the update',
          options.updateTimeoutMs,
        );
      } catch (err) {
        if (deadline.abortedReason || !(err instanceof RunAborted)) throw err;
        timedOutUpdate = true;
        options.log(`update ${u + 1}: ${(err as Error).message}`);
      } finally {
        clearInterval(rssSampler);
      }
      const cpuAfter = sampleAll(pids);
      const benchCpu = process.cpuUsage(benchCpuBefore);
      if (u > 0) await profiler.stop(`update-${u + 1}`, deadline);
      if (u === 0) {
        profiles.update = await profiler.stop('update', deadline);
        receivedUpdate = counters.bytesReceived - receivedBefore;
        countersAfter = await readAllCounters(cps);
      }
      const latencies = updateLatencies;
      const replicasOf = updateReplicas;
      updates.push({
        expected: edsVersionAtUpdate.size,
        acked: updated.size,
        applyHttpMs: round(applyHttpMs, 1),
        applyToAck: summarize(latencies),
        responseToAck: summarize(latencies.map((ms) => ms - applyHttpMs)),
        responseToAckByReplica:
          cps.length > 1
            ? cps.map((_, r) =>
                summarize(
                  latencies.filter((_ms, k) => replicasOf[k] === r).map((ms) => ms - applyHttpMs),
                ),
              )
            : undefined,
        contentVerified,
        cpuSeconds: round(cpuAfter.cpuSeconds - cpuBefore.cpuSeconds, 2),
        mainThreadCpuSeconds: round(
          cpuAfter.mainThreadCpuSeconds - cpuBefore.mainThreadCpuSeconds,
          2,
        ),
        benchProcessCpuSeconds: round((benchCpu.user + benchCpu.system) / 1e6, 2),
        otherResponses,
        timedOut: timedOutUpdate,
      });
      report.update = updates[0];
      options.log(
        `update ${u + 1}/${options.updates}: apply → ACK p99 ${updates[u]!.applyToAck.p99Ms} ms, control-plane CPU ${updates[u]!.cpuSeconds} s (main threads ${updates[u]!.mainThreadCpuSeconds} s)`,
      );
    }
    report.bytes = {
      source: countersAfter
        ? `control plane ${countersAfter.path} and client-side DATA bytes`
        : 'client-side DATA bytes only (the control plane exposes no xDS byte counters)',
      clientReceivedInitial: receivedInitial,
      clientReceivedUpdate: receivedUpdate,
      clientSentTotal: counters.bytesSent,
      controlPlaneUpdate: counterDelta(countersBefore, countersAfter),
      controlPlaneTotal: counterRecord(countersAfter ?? countersIdle),
    };
  } catch (err) {
    report.aborted = (err as Error).message;
    if (!(err instanceof RunAborted))
      for (const [r, replica] of cps.entries())
        options.log(`control plane ${r} log tail:\n${replica.logs.slice(-20).join('\n')}`);
  } finally {
    deadline.close();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    for (const client of clients) client.destroy();
    await Promise.all(cps.map((replica) => shutdownControlPlane(replica)));
    await stopAll();
    await etcd?.stop();
  }
  report.failures = Object.fromEntries(failures);
  return report as FanoutReport;
}

function trySample(pids: readonly number[]): ProcSample | undefined {
  try {
    return sampleAll(pids);
  } catch {
    return undefined;
  }
}

/** SIGTERM (so a --cpu-prof profile is written), SIGKILL if it has not exited within 15 s. */
async function shutdownControlPlane(cp: ControlPlane | undefined): Promise<void> {
  if (!cp || cp.proc.exitCode !== null || cp.proc.signalCode !== null) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    cp.stop(),
    new Promise<void>((resolve) => (timer = setTimeout(resolve, 15_000))),
  ]);
  clearTimeout(timer);
  if (cp.proc.exitCode === null && cp.proc.signalCode === null) await cp.kill();
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
