/**
 * The per-request side of envoy.filters.http.header_mutation (Envoy's header_mutation.cc):
 * request mutations run in decodeHeaders, response mutations in encodeHeaders, each list in
 * order (remove, or append per its append_action with %VARIABLE% values). The filter's own
 * mutations run first, then every route level's HeaderMutationPerRoute: most specific first by
 * default (so a less specific level's overwrite wins), least specific first with
 * most_specific_header_mutations_wins.
 *
 * Response formatters read the request headers this filter saw; a local reply sent before this
 * filter decoded the request sees none (%REQ(...)% renders empty).
 */
import type {
  HeaderMutationFilterModel,
  HeaderMutationListsModel,
  HeaderMutationOpModel,
  HeaderMutationPerRouteModel,
} from '../../../config/model.js';
import { RequestHeaderMap, type ResponseHeaderMap } from '../../../http/header-map.js';
import {
  applyHeaderOption,
  compileHeaderOption,
  type CompiledHeaderOption,
  type HeaderFormatterContext,
  type MutableHeaders,
} from '../../../router/header-mutations.js';
import { StreamFormatterContext } from '../common/request-headers.js';
import type { FilterCallbacks, FilterHeadersStatus, StreamFilter } from '../filter.js';

type CompiledOp = { readonly remove: string } | { readonly add: CompiledHeaderOption };

function compileOps(ops: readonly HeaderMutationOpModel[]): readonly CompiledOp[] {
  return ops.map((op) =>
    op.kind === 'remove' ? { remove: op.name } : { add: compileHeaderOption(op.option) },
  );
}

function usesFormatters(ops: readonly CompiledOp[]): boolean {
  return ops.some((op) => 'add' in op && typeof op.add.value !== 'string');
}

/** One Mutations message, compiled. */
class CompiledMutations {
  readonly request: readonly CompiledOp[];
  readonly response: readonly CompiledOp[];
  /** Some value has a %VARIABLE%: the stream's formatter context is needed. */
  readonly formatters: boolean;
  constructor(model: HeaderMutationListsModel) {
    this.request = compileOps(model.request);
    this.response = compileOps(model.response);
    this.formatters = usesFormatters(this.request) || usesFormatters(this.response);
  }
}

function apply(
  ops: readonly CompiledOp[],
  headers: MutableHeaders,
  ctx: HeaderFormatterContext,
): void {
  for (const op of ops) {
    if ('remove' in op) headers.remove(op.remove);
    else applyHeaderOption(op.add, headers, ctx);
  }
}

/** Built once per HCM and config version; per-route mutations are compiled on first use. */
export class HeaderMutationFilter {
  readonly mutations: CompiledMutations;
  readonly mostSpecificWins: boolean;
  readonly #perRoute = new WeakMap<HeaderMutationPerRouteModel, CompiledMutations>();

  constructor(config: HeaderMutationFilterModel) {
    this.mutations = new CompiledMutations(config.mutations);
    this.mostSpecificWins = config.mostSpecificHeaderMutationsWins;
  }

  create(callbacks: FilterCallbacks): HeaderMutationStreamFilter {
    return new HeaderMutationStreamFilter(this, callbacks);
  }

  /** The route levels in the order they apply. */
  routeMutations(perRoute: readonly unknown[]): CompiledMutations[] {
    const compiled = perRoute.map((config) => {
      const model = config as HeaderMutationPerRouteModel;
      let mutations = this.#perRoute.get(model);
      if (mutations === undefined) {
        mutations = new CompiledMutations(model.mutations);
        this.#perRoute.set(model, mutations);
      }
      return mutations;
    });
    return this.mostSpecificWins ? compiled.reverse() : compiled;
  }
}

/** What literal-only mutations get: evaluating a literal never reads the context. */
const NO_FORMATTERS: HeaderFormatterContext = {
  downstreamRemoteAddress: '',
  downstreamDirectRemoteAddress: '',
  downstreamLocalAddress: '',
  protocol: '',
  upstreamRemoteAddress: '',
  requestHeaders: { get: () => undefined },
};

export class HeaderMutationStreamFilter implements StreamFilter {
  #ctx: HeaderFormatterContext | undefined;
  #routeMutations: CompiledMutations[] | undefined;

  constructor(
    private readonly filter: HeaderMutationFilter,
    private readonly callbacks: FilterCallbacks,
  ) {}

  decodeHeaders(headers: RequestHeaderMap): FilterHeadersStatus {
    const levels = this.#levels();
    const ctx = this.#context(headers, levels);
    apply(this.filter.mutations.request, headers, ctx);
    for (const level of levels) apply(level.request, headers, ctx);
    return 'continue';
  }

  encodeHeaders(headers: ResponseHeaderMap): FilterHeadersStatus {
    const levels = this.#levels();
    // A response whose request this filter never saw (an earlier filter's local reply).
    const ctx = this.#ctx ?? this.#context(new RequestHeaderMap('', '', '', '', ''), levels);
    apply(this.filter.mutations.response, headers, ctx);
    for (const level of levels) apply(level.response, headers, ctx);
    return 'continue';
  }

  #levels(): CompiledMutations[] {
    return (this.#routeMutations ??= this.filter.routeMutations(
      this.callbacks.route()?.perFilterConfigs(this.callbacks.name) ?? [],
    ));
  }

  /** The formatter context, built only when some value has a %VARIABLE%. */
  #context(
    request: RequestHeaderMap,
    levels: readonly CompiledMutations[],
  ): HeaderFormatterContext {
    const needed = this.filter.mutations.formatters || levels.some((level) => level.formatters);
    this.#ctx = needed
      ? new StreamFormatterContext(this.callbacks.streamInfo, request)
      : NO_FORMATTERS;
    return this.#ctx;
  }
}
