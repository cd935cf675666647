/**
 * The response encoding decision of envoy.filters.http.compressor (Envoy's
 * CompressorFilter::chooseEncoding), taken once per request for every compressor filter in the
 * chain: the request's Accept-Encoding q-values against the encodings of the compressor filters
 * whose content types allow the response.
 *
 * - tokens are `coding[;q=value]`; a q-value that does not parse drops the token; q=0 forbids
 *   the coding (even when `*` would allow it);
 * - the acceptable token with the highest q wins among the chain's encodings, `identity` and
 *   `*`; on a tie the earlier token wins unless the later one's filter has choose_first;
 * - `*` picks the first registered compressor; no acceptable token (or only q=0) means identity.
 */

/** One compressor filter of the chain, in registration (filter chain) order. */
export interface ChainCompressor {
  readonly encoding: string;
  readonly chooseFirst: boolean;
  /** Whether the response content type allows this compressor. */
  allows(mediaType: string): boolean;
}

export type EncodingDecisionKind =
  /** A listed coding of a compressor in the chain won. */
  | 'compressor'
  /** `identity` won. */
  | 'identity'
  /** `*` won: the first registered compressor. */
  | 'wildcard'
  /** Nothing acceptable (no usable token, or only q=0). */
  | 'not_valid';

export interface EncodingDecision {
  /** The content coding to apply ("identity": none). */
  readonly encoding: string;
  readonly kind: EncodingDecisionKind;
}

const IDENTITY: EncodingDecision = { encoding: 'identity', kind: 'identity' };
const NOT_VALID: EncodingDecision = { encoding: 'identity', kind: 'not_valid' };
const Q_VALUE = /^[+]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

interface Candidate {
  readonly order: number;
  readonly chooseFirst: boolean;
}

/** Parses `coding;q=x`; undefined when the q-value does not parse (Envoy skips the token). */
function parseToken(token: string): { coding: string; q: number } | undefined {
  const semicolon = token.indexOf(';');
  if (semicolon < 0) return { coding: token.trim().toLowerCase(), q: 1 };
  const coding = token.slice(0, semicolon).trim().toLowerCase();
  const params = token.slice(semicolon + 1);
  const equals = params.indexOf('=');
  if (equals < 0 || params.slice(0, equals).trim().toLowerCase() !== 'q') return { coding, q: 1 };
  const value = params.slice(equals + 1).trim();
  if (!Q_VALUE.test(value)) return undefined;
  return { coding, q: Number(value) };
}

export function chooseEncoding(
  acceptEncoding: string,
  chain: readonly ChainCompressor[],
  responseMediaType: string,
): EncodingDecision {
  const allowed = new Map<string, Candidate>();
  chain.forEach((compressor, order) => {
    if (responseMediaType !== '' && !compressor.allows(responseMediaType)) return;
    // Several filters for one coding: the first registered one stands for it.
    if (!allowed.has(compressor.encoding))
      allowed.set(compressor.encoding, { order, chooseFirst: compressor.chooseFirst });
  });
  const pairs: { coding: string; q: number }[] = [];
  for (const raw of acceptEncoding.split(',')) {
    if (raw.trim() === '') continue;
    const pair = parseToken(raw);
    if (pair === undefined) continue;
    pairs.push(pair);
    // Kept in `pairs` (the client's view) but removed from what may be chosen.
    if (pair.q === 0) allowed.delete(pair.coding);
  }
  if (pairs.length === 0 || allowed.size === 0) return NOT_VALID;
  let choice = { coding: 'identity', q: 0 };
  for (const pair of pairs) {
    const candidate = allowed.get(pair.coding);
    if (candidate === undefined && pair.coding !== 'identity' && pair.coding !== '*') continue;
    if (pair.q > choice.q || (pair.q === choice.q && candidate?.chooseFirst === true))
      choice = pair;
  }
  if (choice.q === 0) return NOT_VALID;
  if (choice.coding === 'identity') return IDENTITY;
  if (choice.coding === '*') {
    let first: [string, Candidate] | undefined;
    for (const entry of allowed)
      if (first === undefined || entry[1].order < first[1].order) first = entry;
    return { encoding: first![0], kind: 'wildcard' };
  }
  return { encoding: choice.coding, kind: 'compressor' };
}
