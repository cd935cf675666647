/**
 * Collections that change only when request or response data arrives: a transaction resolves
 * each once and keeps it until a phase method brings data that changes it (each method lists
 * the ones it changes).
 */
export const DATA_COLLECTIONS: ReadonlySet<string> = new Set([
  'ARGS',
  'ARGS_GET',
  'ARGS_POST',
  'ARGS_NAMES',
  'ARGS_GET_NAMES',
  'ARGS_POST_NAMES',
  'ARGS_COMBINED_SIZE',
  'REQUEST_HEADERS',
  'REQUEST_HEADERS_NAMES',
  'REQUEST_COOKIES',
  'REQUEST_COOKIES_NAMES',
  'RESPONSE_HEADERS',
  'RESPONSE_HEADERS_NAMES',
  'FILES',
  'FILES_NAMES',
  'FILES_SIZES',
  'MULTIPART_PART_HEADERS',
  'XML',
]);

/** Each of DATA_COLLECTIONS' index (Target.collection). */
export const DATA_COLLECTION_INDEX: ReadonlyMap<string, number> = new Map(
  [...DATA_COLLECTIONS].map((name, i) => [name, i]),
);
