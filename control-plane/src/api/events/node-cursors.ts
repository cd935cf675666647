/**
 * Where the event stream's node events are remembered for resuming, instead of the ring: the
 * cursor (sequence number) of each known node's last change, and a short list of the nodes that
 * left. A client resuming from cursor C is sent the current row of every node changed after C
 * and a `node_gone` for every node that left after C; if a departure after C has fallen off the
 * list, it cannot be told, and gets a `reset` (docs/api.md, "Events"). So what is kept grows by
 * one number per connected proxy, not by one serialized row per change.
 */

export interface NodeDeparture {
  readonly seq: number;
  readonly nodeId: string;
  readonly group: string;
}

/** What a resume from a cursor sends about nodes, in sequence order. */
export interface NodeResume {
  /** [node id, sequence of its last change], for every node changed after the cursor. */
  readonly changed: ReadonlyArray<readonly [string, number]>;
  readonly gone: readonly NodeDeparture[];
}

export const DEFAULT_NODE_DEPARTURES = 1024;

export class NodeCursors {
  private readonly last = new Map<string, number>();
  private departures: NodeDeparture[] = [];
  /** The sequence of the newest departure dropped from the list (0: none). */
  private dropped = 0;

  constructor(private readonly maxDepartures: number = DEFAULT_NODE_DEPARTURES) {}

  get nodes(): number {
    return this.last.size;
  }

  changed(nodeId: string, seq: number): void {
    this.last.set(nodeId, seq);
  }

  gone(nodeId: string, group: string, seq: number): void {
    this.last.delete(nodeId);
    this.departures.push({ seq, nodeId, group });
    if (this.departures.length > this.maxDepartures) {
      // Drop a quarter at once: amortized O(1) per departure.
      const cut = this.departures.length - Math.floor((this.maxDepartures * 3) / 4);
      this.dropped = this.departures[cut - 1]!.seq;
      this.departures = this.departures.slice(cut);
    }
  }

  /** What happened to nodes after `seq`; undefined when a departure after it is no longer kept. */
  since(seq: number): NodeResume | undefined {
    if (seq < this.dropped) return undefined;
    const changed: Array<readonly [string, number]> = [];
    for (const entry of this.last) if (entry[1] > seq) changed.push(entry);
    changed.sort((a, b) => a[1] - b[1]);
    return { changed, gone: this.departures.filter((d) => d.seq > seq) };
  }

  /** Every known node, oldest change first (a client that knows none of them). */
  all(): NodeResume {
    const changed = [...this.last].sort((a, b) => a[1] - b[1]);
    return { changed, gone: [] };
  }
}
