/**
 * Resource usage of another process from Linux procfs: resident memory (VmRSS in
 * /proc/PID/status) and CPU time (utime + stime in /proc/PID/stat, in clock ticks).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

export interface ProcSample {
  readonly rssBytes: number;
  /** User + system CPU time consumed since the process started. */
  readonly cpuSeconds: number;
  /**
   * The part of `cpuSeconds` spent on the main thread (the JavaScript event loop); the rest is
   * V8's background threads (optimizing compiler, concurrent GC) and libuv's thread pool.
   */
  readonly mainThreadCpuSeconds: number;
}

let clockTicks: number | undefined;

/** `getconf CLK_TCK`, read once; 100 on every mainstream Linux when getconf is missing. */
export function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** Parses the text of /proc/PID/stat; the command name may contain spaces and parentheses. */
export function parseCpuTicks(statText: string): number {
  const fields = statText.slice(statText.lastIndexOf(')') + 2).split(' ');
  // After "pid (comm) ", fields start at `state` (field 3): utime is field 14, stime field 15.
  const utime = Number(fields[14 - 3]);
  const stime = Number(fields[15 - 3]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime))
    throw new Error('proc-stats: malformed /proc/PID/stat');
  return utime + stime;
}

/** Parses `VmRSS:   12345 kB` out of /proc/PID/status. */
export function parseRssBytes(statusText: string): number {
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(statusText);
  if (!match) throw new Error('proc-stats: no VmRSS in /proc/PID/status');
  return Number(match[1]) * 1024;
}

export function sampleProcess(pid: number): ProcSample {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The main thread's id is the process id.
  const mainStat = fs.readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8');
  return {
    rssBytes: parseRssBytes(status),
    cpuSeconds: parseCpuTicks(stat) / ticksPerSecond(),
    mainThreadCpuSeconds: parseCpuTicks(mainStat) / ticksPerSecond(),
  };
}

/**
 * CPU seconds (user + system) consumed so far by every live process of process group `pgid`
 * (a server started detached is its own group: a proxy's primary and its workers).
 */
export function groupCpuSeconds(pgid: number): number {
  let ticks = 0;
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Field 5 is pgrp (fields here start at field 3, `state`).
    if (Number(fields[5 - 3]) === pgid) ticks += parseCpuTicks(stat);
  }
  return ticks / ticksPerSecond();
}
