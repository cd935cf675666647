import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { decideSampling, type SamplingPercents } from './sampling.js';

/** A random source returning the given values in order (fails if asked for more). */
function rolls(...values: number[]): () => number {
  return () => {
    const v = values.shift();
    assert.ok(v !== undefined, 'asked for more random numbers than the case provides');
    return v;
  };
}

const ALL: SamplingPercents = { client: 100, random: 100, overall: 100 };

describe('decideSampling', () => {
  const CASES: Array<{
    name: string;
    incoming: boolean | undefined;
    clientTraceId?: boolean;
    percents: SamplingPercents;
    random: number[];
    sampled: boolean;
  }> = [
    {
      name: 'incoming sampled wins over 0%',
      incoming: true,
      percents: { client: 0, random: 0, overall: 0 },
      random: [],
      sampled: true,
    },
    {
      name: 'incoming not sampled wins over 100%',
      incoming: false,
      percents: ALL,
      random: [],
      sampled: false,
    },
    { name: 'defaults: everything', incoming: undefined, percents: ALL, random: [], sampled: true },
    {
      name: 'random 0%',
      incoming: undefined,
      percents: { ...ALL, random: 0 },
      random: [],
      sampled: false,
    },
    {
      name: 'random 1%: hit',
      incoming: undefined,
      percents: { ...ALL, random: 1 },
      random: [0.0099],
      sampled: true,
    },
    {
      name: 'random 1%: miss',
      incoming: undefined,
      percents: { ...ALL, random: 1 },
      random: [0.01],
      sampled: false,
    },
    {
      name: 'overall 0% vetoes',
      incoming: undefined,
      percents: { ...ALL, overall: 0 },
      random: [],
      sampled: false,
    },
    {
      name: 'overall 50%: miss',
      incoming: undefined,
      percents: { ...ALL, overall: 50 },
      random: [0.7],
      sampled: false,
    },
    {
      name: 'overall 50%: hit',
      incoming: undefined,
      percents: { ...ALL, overall: 50 },
      random: [0.2],
      sampled: true,
    },
    {
      name: 'client trace id forces past random 0%',
      incoming: undefined,
      clientTraceId: true,
      percents: { client: 100, random: 0, overall: 100 },
      random: [],
      sampled: true,
    },
    {
      name: 'client sampling 0% leaves random',
      incoming: undefined,
      clientTraceId: true,
      percents: { client: 0, random: 10, overall: 100 },
      random: [0.05],
      sampled: true,
    },
    {
      name: 'client trace id ignored without the header',
      incoming: undefined,
      percents: { client: 100, random: 0, overall: 100 },
      random: [],
      sampled: false,
    },
  ];
  for (const c of CASES)
    test(c.name, () => {
      assert.equal(
        decideSampling(c.incoming, c.clientTraceId ?? false, c.percents, rolls(...c.random)),
        c.sampled,
      );
    });
});
