/**
 * Config factory of envoy.filters.http.header_mutation: validates Envoy's
 * `envoy.extensions.filters.http.header_mutation.v3.HeaderMutation` (and the per-route
 * `HeaderMutationPerRoute`) into HeaderMutationFilterModel. Appended values may use Envoy's
 * %VARIABLE% formatters (router/header-mutations.ts has the supported set).
 */
import type { HttpFilterFactory } from '../filter.js';
import type {
  HeaderMutationFilterModel,
  HeaderMutationListsModel,
  HeaderMutationOpModel,
  HeaderMutationPerRouteModel,
} from '../../../config/model.js';
import {
  TYPE_URL_PREFIX,
  asObject,
  bool,
  checkFields,
  join,
  messageSpec,
  objectField,
  objectsOf,
  str,
  type Issues,
  type JsonObject,
} from '../../../config/translate-common.js';
import { headerValueOption, isModifiableHeader } from '../../../config/translate-matchers.js';
import { HeaderMutationFilter } from './header-mutation-filter.js';

const HEADER_MUTATION_SPEC = messageSpec(
  'envoy.extensions.filters.http.header_mutation.v3.HeaderMutation',
  {
    mutations: 'applied before the per-route mutations',
    most_specific_header_mutations_wins:
      'default false: per-route levels apply most specific first, so less specific ones win',
  },
);

const PER_ROUTE_SPEC = messageSpec(
  'envoy.extensions.filters.http.header_mutation.v3.HeaderMutationPerRoute',
  { mutations: 'every level’s mutations apply, after the filter’s' },
);

const MUTATIONS_SPEC = messageSpec('envoy.extensions.filters.http.header_mutation.v3.Mutations', {
  request_mutations: 'in order, before the request goes on',
  response_mutations: 'in order, before the response goes on',
});

const MUTATION_SPEC = messageSpec('envoy.config.common.mutation_rules.v3.HeaderMutation', {
  remove: 'header name (not a pseudo-header or host)',
  append: 'HeaderValueOption (formatters allowed; not a pseudo-header or host)',
});

export const HEADER_MUTATION_FILTER_TYPE_URL = TYPE_URL_PREFIX + HEADER_MUTATION_SPEC.message;
export const HEADER_MUTATION_PER_ROUTE_TYPE_URL = TYPE_URL_PREFIX + PER_ROUTE_SPEC.message;

export const headerMutationFilter: HttpFilterFactory<
  HeaderMutationFilterModel,
  HeaderMutationPerRouteModel
> = {
  typeUrl: HEADER_MUTATION_FILTER_TYPE_URL,
  names: ['envoy.filters.http.header_mutation'],
  terminal: false,
  note: 'adds and removes request and response headers (formatters allowed); per route: HeaderMutationPerRoute',
  specs: [HEADER_MUTATION_SPEC, PER_ROUTE_SPEC, MUTATIONS_SPEC, MUTATION_SPEC],
  perRouteTypeUrls: [HEADER_MUTATION_PER_ROUTE_TYPE_URL],
  validate(config, path, issues) {
    checkFields(config, HEADER_MUTATION_SPEC, path, issues);
    return {
      mutations: mutations(objectField(config, 'mutations'), join(path, 'mutations'), issues),
      mostSpecificHeaderMutationsWins: bool(config.most_specific_header_mutations_wins, false),
    };
  },
  validatePerRoute(_typeUrl, config, path, issues) {
    checkFields(config, PER_ROUTE_SPEC, path, issues);
    return {
      mutations: mutations(objectField(config, 'mutations'), join(path, 'mutations'), issues),
    };
  },
  createFilterFactory(config) {
    const filter = new HeaderMutationFilter(config);
    return { create: (callbacks) => filter.create(callbacks) };
  },
};

function mutations(obj: JsonObject, path: string, issues: Issues): HeaderMutationListsModel {
  checkFields(obj, MUTATIONS_SPEC, path, issues);
  const list = (key: string): HeaderMutationOpModel[] =>
    objectsOf(obj, key, path).flatMap(([m, p]) => {
      const op = mutation(m, p, issues);
      return op === undefined ? [] : [op];
    });
  return { request: list('request_mutations'), response: list('response_mutations') };
}

const CONTEXT = { formatters: true, modifiableOnly: true } as const;

function mutation(
  obj: JsonObject,
  path: string,
  issues: Issues,
): HeaderMutationOpModel | undefined {
  checkFields(obj, MUTATION_SPEC, path, issues);
  const append = asObject(obj.append);
  if (append)
    return {
      kind: 'append',
      option: headerValueOption(append, join(path, 'append'), issues, CONTEXT),
    };
  // The action oneof is required (PGV), so `remove` is set.
  const name = str(obj.remove).toLowerCase();
  if (!isModifiableHeader(name)) {
    issues.add(join(path, 'remove'), `${name}: pseudo-headers and host may not be removed`);
    return undefined;
  }
  return { kind: 'remove', name };
}
