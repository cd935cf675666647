/**
 * The worker → primary form of a StatsSnapshot. A scrape makes every worker send its stats, and
 * at one worker the primary and the worker share a core, so what a scrape costs the worker is
 * taken from the requests it serves. Sending the snapshot's objects costs the IPC serializer
 * work per series and per label; this form sends each series' name and labels only when the
 * receiver has not seen them in that position yet, and the values as plain arrays of numbers
 * (which the structured-clone serializer writes natively; a typed array goes through a slower
 * host-object path in Node's IPC serializer).
 *
 * The encoder and the decoder keep the same list of series per kind, in snapshot order. A series
 * whose name and labels are the same objects (labels) or string (name) as in the previous
 * snapshot at the same position is known to the decoder; the first position that differs and
 * every one after it are sent again (`from`). A worker's sink only appends series, so after the
 * first scrape a message carries no definitions unless a series was added. Identity is only a
 * shortcut: a producer that builds fresh label objects each time costs re-sent definitions, never
 * wrong values.
 */
import type { StatLabels, StatsSnapshot } from './stats.js';

type Histogram = StatsSnapshot['histograms'][number];

interface SeriesDef {
  readonly name: string;
  readonly labels: StatLabels;
}

interface HistogramDef extends SeriesDef {
  readonly buckets: readonly number[];
}

/** One kind of series: definitions from position `from` on, then every value. */
export interface SeriesUpdate<Def> {
  readonly from: number;
  readonly defs: readonly Def[];
  /** Counters and gauges: one value per series. Histograms: per series, each bucket's count
   * (buckets.length + 1, +Inf last), then sum, then count. */
  readonly values: readonly number[];
}

export interface StatsWire {
  readonly counters: SeriesUpdate<SeriesDef>;
  readonly gauges: SeriesUpdate<SeriesDef>;
  readonly histograms: SeriesUpdate<HistogramDef>;
}

/** The first position where `series` differs from `known`; updates `known` from there. */
function syncDefs<Def extends SeriesDef>(
  known: Def[],
  series: readonly SeriesDef[],
  toDef: (s: SeriesDef, index: number) => Def,
): { from: number; defs: Def[] } {
  let from = 0;
  const shared = Math.min(known.length, series.length);
  while (from < shared) {
    const k = known[from]!;
    const s = series[from]!;
    if (k.name !== s.name || k.labels !== s.labels) break;
    from++;
  }
  known.length = from;
  const defs: Def[] = [];
  for (let i = from; i < series.length; i++) {
    const def = toDef(series[i]!, i);
    defs.push(def);
    known.push(def);
  }
  return { from, defs };
}

const asDef = (s: SeriesDef): SeriesDef => ({ name: s.name, labels: s.labels });

function scalarUpdate(
  known: SeriesDef[],
  series: StatsSnapshot['counters'],
): SeriesUpdate<SeriesDef> {
  const { from, defs } = syncDefs(known, series, asDef);
  const values: number[] = [];
  for (const s of series) values.push(s.value);
  return { from, defs, values };
}

/** In a worker: turns its snapshots into wire form, one encoder per channel to the primary. */
export class StatsWireEncoder {
  readonly #counters: SeriesDef[] = [];
  readonly #gauges: SeriesDef[] = [];
  readonly #histograms: HistogramDef[] = [];

  encode(snapshot: StatsSnapshot): StatsWire {
    const histograms = snapshot.histograms;
    const { from, defs } = syncDefs(this.#histograms, histograms, (_, i) => {
      const h = histograms[i]!;
      return { name: h.name, labels: h.labels, buckets: h.buckets };
    });
    const values: number[] = [];
    for (const h of histograms) {
      for (const n of h.counts) values.push(n);
      values.push(h.sum, h.count);
    }
    return {
      counters: scalarUpdate(this.#counters, snapshot.counters),
      gauges: scalarUpdate(this.#gauges, snapshot.gauges),
      histograms: { from, defs, values },
    };
  }
}

/** Applies `update`'s definitions to `known`, or throws when the two sides lost step. */
function applyDefs<Def>(known: Def[], update: SeriesUpdate<Def>, kind: string): void {
  if (update.from > known.length)
    throw new Error(
      `stats from a worker: ${kind} definitions start at ${update.from} but ${known.length} ` +
        'are known; the worker and the primary disagree on its series (restart the worker)',
    );
  known.length = update.from;
  for (const def of update.defs) known.push(def);
}

function scalars(known: readonly SeriesDef[], values: readonly number[], kind: string) {
  if (values.length !== known.length)
    throw new Error(
      `stats from a worker: ${values.length} ${kind} values for ${known.length} series`,
    );
  return known.map((def, i) => ({ name: def.name, labels: def.labels, value: values[i]! }));
}

/** In the primary: rebuilds one worker's snapshots; one decoder per worker process. */
export class StatsWireDecoder {
  readonly #counters: SeriesDef[] = [];
  readonly #gauges: SeriesDef[] = [];
  readonly #histograms: HistogramDef[] = [];

  decode(wire: StatsWire): StatsSnapshot {
    applyDefs(this.#counters, wire.counters, 'counter');
    applyDefs(this.#gauges, wire.gauges, 'gauge');
    applyDefs(this.#histograms, wire.histograms, 'histogram');
    const values = wire.histograms.values;
    const histograms: Histogram[] = [];
    let at = 0;
    for (const def of this.#histograms) {
      const width = def.buckets.length + 1;
      if (at + width + 2 > values.length) break;
      const counts = values.slice(at, at + width);
      at += width;
      histograms.push({
        name: def.name,
        labels: def.labels,
        buckets: def.buckets,
        counts,
        sum: values[at]!,
        count: values[at + 1]!,
      });
      at += 2;
    }
    if (at !== values.length || histograms.length !== this.#histograms.length)
      throw new Error(
        `stats from a worker: ${values.length} histogram values do not fit ` +
          `${this.#histograms.length} histograms`,
      );
    return {
      counters: scalars(this.#counters, wire.counters.values, 'counter'),
      gauges: scalars(this.#gauges, wire.gauges.values, 'gauge'),
      histograms,
    };
  }
}
