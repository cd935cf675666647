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

/** One Mutations message, compiled. */
class CompiledMutations {
  readonly request: readonly CompiledOp[];
  readonly response: readonly CompiledOp[];
  constructor(model: HeaderMutationListsModel) {
    this.request = compileOps(model.request);
    this.response = compileOps(model.response);
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

/** A formatter context for a response whose request this filter never saw. */
function emptyRequest(callbacks: FilterCallbacks): StreamFormatterContext {
  return new StreamFormatterContext(callbacks.streamInfo, new RequestHeaderMap('', '', '', '', ''));
}

export class HeaderMutationStreamFilter implements StreamFilter {
  #ctx: StreamFormatterContext | undefined;
  #routeMutations: CompiledMutations[] | undefined;

  constructor(
    private readonly filter: HeaderMutationFilter,
    private readonly callbacks: FilterCallbacks,
  ) {}

  decodeHeaders(headers: RequestHeaderMap): FilterHeadersStatus {
    const ctx = new StreamFormatterContext(this.callbacks.streamInfo, headers);
    this.#ctx = ctx;
    apply(this.filter.mutations.request, headers, ctx);
    for (const level of this.#levels()) apply(level.request, headers, ctx);
    return 'continue';
  }

  encodeHeaders(headers: ResponseHeaderMap): FilterHeadersStatus {
    const ctx = (this.#ctx ??= emptyRequest(this.callbacks));
    apply(this.filter.mutations.response, headers, ctx);
    for (const level of this.#levels()) apply(level.response, headers, ctx);
    return 'continue';
  }

  #levels(): CompiledMutations[] {
    return (this.#routeMutations ??= this.filter.routeMutations(
      this.callbacks.route()?.perFilterConfigs(this.callbacks.name) ?? [],
    ));
  }
}
