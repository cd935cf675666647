/**
 * The small value models that both config/model.ts and config/model-http-filters.ts use (string
 * and header matchers, header values to add); model.ts re-exports them.
 */

export interface StringMatcherModel {
  readonly kind: 'exact' | 'prefix' | 'suffix' | 'contains' | 'regex';
  readonly value: string;
  readonly ignoreCase: boolean;
}

export interface HeaderMatcherModel {
  readonly name: string;
  readonly kind: 'string' | 'present' | 'range';
  readonly string?: StringMatcherModel;
  /** present_match value (true = must be present). */
  readonly present?: boolean;
  readonly range?: { readonly start: number; readonly end: number };
  readonly invert: boolean;
  readonly treatMissingAsEmpty: boolean;
}

export interface HeaderValueOptionModel {
  readonly key: string;
  readonly value: string;
  /** Envoy's append_action. */
  readonly action:
    | 'APPEND_IF_EXISTS_OR_ADD'
    | 'ADD_IF_ABSENT'
    | 'OVERWRITE_IF_EXISTS_OR_ADD'
    | 'OVERWRITE_IF_EXISTS';
  /** keep_empty_value (default false: a header whose formatted value is empty is not added). */
  readonly keepEmptyValue?: boolean;
}
