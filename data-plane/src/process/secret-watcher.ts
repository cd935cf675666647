/**
 * Watches the files of SDS secrets in the primary (docs/architecture.md, "Secrets"), as Envoy
 * watches them: a secret's `filename` DataSources are re-read when the file changes in its
 * directory, and a `watched_directory` reloads the secret when anything in the directory changes
 * (Kubernetes swaps a `..data` symlink, which renames an entry the DataSources do not name).
 * Changes are coalesced over a short delay, then `onChange` rebuilds the config, which re-reads
 * the files; workers never read certificate files.
 */
import fs from 'node:fs';
import type { Logger } from '@ferry/shared';
import type { SecretWatchModel } from '../config/model.js';

/** Events closer together than this make one reload (a rotation writes several files). */
const DEFAULT_SETTLE_MS = 100;

interface DirectoryWatch {
  readonly watcher: fs.FSWatcher;
  /** File names that matter in the directory; undefined: any entry. */
  names: ReadonlySet<string> | undefined;
}

export class SecretWatcher {
  readonly #watches = new Map<string, DirectoryWatch>();
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(
    private readonly onChange: () => void,
    private readonly logger: Logger,
    private readonly settleMs = DEFAULT_SETTLE_MS,
  ) {}

  /** Watches exactly `watches` from now on (the secrets of the newest accepted config). */
  update(watches: readonly SecretWatchModel[]): void {
    if (this.#closed) return;
    const wanted = new Map(watches.map((w) => [w.directory, w.names] as const));
    for (const [directory, watch] of this.#watches)
      if (!wanted.has(directory)) {
        watch.watcher.close();
        this.#watches.delete(directory);
      }
    for (const [directory, names] of wanted) {
      const existing = this.#watches.get(directory);
      if (existing) {
        existing.names = names ? new Set(names) : undefined;
        continue;
      }
      this.#watch(directory, names);
    }
  }

  #watch(directory: string, names: readonly string[] | undefined): void {
    let watcher: fs.FSWatcher;
    try {
      watcher = fs.watch(directory, { persistent: false });
    } catch (err) {
      this.logger.warn(
        { directory, err: (err as Error).message },
        'cannot watch a secret directory: its files are not reloaded until the config changes',
      );
      return;
    }
    const watch: DirectoryWatch = { watcher, names: names ? new Set(names) : undefined };
    watcher.on('change', (_event, filename) => {
      const name = typeof filename === 'string' ? filename : filename?.toString();
      if (watch.names === undefined || name === undefined || watch.names.has(name))
        this.#schedule();
    });
    watcher.on('error', (err) => {
      this.logger.warn({ directory, err: err.message }, 'secret directory watch failed');
      watcher.close();
      if (this.#watches.get(directory) === watch) this.#watches.delete(directory);
    });
    this.#watches.set(directory, watch);
  }

  #schedule(): void {
    if (this.#closed || this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (!this.#closed) this.onChange();
    }, this.settleMs);
    this.#timer.unref();
  }

  /** Directories watched now (tests, admin). */
  get directories(): string[] {
    return [...this.#watches.keys()].sort();
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    for (const watch of this.#watches.values()) watch.watcher.close();
    this.#watches.clear();
  }
}
