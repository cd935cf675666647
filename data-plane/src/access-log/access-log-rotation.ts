/**
 * ferry-proxy's built-in access log rotation (--access-log-max-size-mb,
 * --access-log-rotate-interval-s, --access-log-max-files), run by the primary for every file
 * any worker appends to. Rotation is logrotate's scheme: PATH.(K-1) → PATH.K, ..., PATH → PATH.1
 * (the oldest beyond K is overwritten), then the workers are told to reopen. Until a worker has
 * reopened it keeps appending to the renamed file (same inode), so no line is lost; afterwards
 * it appends to a fresh PATH.
 *
 * Checks run every CHECK_INTERVAL_MS (stat only, async). A file is rotated when it reached the
 * size limit, or when the interval passed since its last rotation (or since the rotator started)
 * and it is not empty.
 */
import fs from 'node:fs/promises';
import type { Logger } from '@ferry/shared';

const CHECK_INTERVAL_MS = 1000;

export interface RotationPolicy {
  /** Rotate when a file reaches this size (0: no size limit). */
  readonly maxBytes: number;
  /** Rotate every interval (0: no time-based rotation). */
  readonly intervalMs: number;
  /** Rotated files kept: PATH.1 ... PATH.K (K ≥ 1). */
  readonly maxFiles: number;
}

export interface AccessLogRotatorOptions {
  readonly policy: RotationPolicy;
  /** The files to watch, asked at every check (the config may change them). */
  readonly paths: () => Iterable<string>;
  /** Tells every writer to reopen its files (after a rotation renamed some). */
  readonly reopen: () => void;
  readonly logger: Logger;
  readonly now?: () => number;
}

export class AccessLogRotator {
  readonly #options: AccessLogRotatorOptions;
  readonly #lastRotation = new Map<string, number>();
  readonly #startedAt: number;
  #timer: NodeJS.Timeout | undefined;
  #checking = false;
  #closed = false;

  constructor(options: AccessLogRotatorOptions) {
    this.#options = options;
    this.#startedAt = this.#now();
  }

  /** True when the policy rotates at all. */
  static enabled(policy: RotationPolicy): boolean {
    return policy.maxBytes > 0 || policy.intervalMs > 0;
  }

  start(): void {
    if (this.#closed || this.#timer !== undefined) return;
    this.#timer = setInterval(() => void this.check(), CHECK_INTERVAL_MS);
    this.#timer.unref();
  }

  /** One check of every path (the timer's tick; tests call it directly). */
  async check(): Promise<void> {
    if (this.#checking || this.#closed) return;
    this.#checking = true;
    try {
      const rotated: string[] = [];
      for (const path of new Set(this.#options.paths())) {
        if (await this.#due(path)) {
          await this.rotate(path);
          rotated.push(path);
        }
      }
      if (rotated.length > 0) this.#options.reopen();
    } finally {
      this.#checking = false;
    }
  }

  async #due(path: string): Promise<boolean> {
    const { maxBytes, intervalMs } = this.#options.policy;
    let size: number;
    try {
      size = (await fs.stat(path)).size;
    } catch {
      return false; // not created yet (or just rotated and not reopened yet)
    }
    if (maxBytes > 0 && size >= maxBytes) return true;
    const since = this.#lastRotation.get(path) ?? this.#startedAt;
    return intervalMs > 0 && size > 0 && this.#now() - since >= intervalMs;
  }

  /** Shifts the rotated files and renames PATH to PATH.1 (the caller reopens the writers). */
  async rotate(path: string): Promise<void> {
    const keep = Math.max(1, this.#options.policy.maxFiles);
    try {
      for (let i = keep - 1; i >= 1; i--) await renameIfExists(`${path}.${i}`, `${path}.${i + 1}`);
      await fs.rename(path, `${path}.1`);
      this.#lastRotation.set(path, this.#now());
    } catch (err) {
      this.#options.logger.warn({ err, path }, 'access log rotation failed');
    }
  }

  /** Stops checking. Idempotent. */
  close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #now(): number {
    return this.#options.now?.() ?? Date.now();
  }
}

async function renameIfExists(from: string, to: string): Promise<void> {
  try {
    await fs.rename(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
