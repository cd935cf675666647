/**
 * protoc-gen-validate enforcement: the `(validate.rules)` field options, `(validate.required)`
 * oneof options and `(validate.disabled)`/`(validate.ignored)` message options that Envoy's protos
 * carry, read from the descriptor set (which includes validate/validate.proto) instead of
 * generated code. Envoy runs the same checks before it accepts a config (MessageUtil::validate,
 * which also descends into every Any), so a config that passes here is not NACKed for them.
 *
 * Called by decodeJsonWith (json.ts) after a successful decode, and by parseResourceBinary
 * (resource.ts) for received binary. Rule lookups are compiled once per message type and cached
 * for the life of the process (the registry never changes).
 *
 * The walk reads @bufbuild/protobuf's message shape directly through each field's descriptor
 * (localName, oneof `{ case, value }`, unboxed wrapper fields, maps as records) rather than through
 * `reflect()`: the reflection wrappers cost ~3 µs per message, which made a 5,000-route listener
 * take ~90 ms; direct reads keep it to a few ms. Paths are kept as a segment stack and rendered
 * only when a violation is reported.
 */
import {
  fromBinary,
  getOption,
  hasOption,
  ScalarType,
  toJson,
  type DescField,
  type DescMessage,
  type DescOneof,
  type Message,
} from '@bufbuild/protobuf';
import { FeatureSet_FieldPresence } from '@bufbuild/protobuf/wkt';
import { protoRegistry } from './registry.js';
import { compileFieldRules, type CompiledRules } from './validate-rules-compile.js';

const MAX_ERRORS = 100;
const ANY = 'google.protobuf.Any';
const WRAPPERS = new Set(
  ['Double', 'Float', 'Int64', 'UInt64', 'Int32', 'UInt32', 'Bool', 'String', 'Bytes'].map(
    (t) => `google.protobuf.${t}Value`,
  ),
);

interface FieldPlan {
  readonly field: DescField;
  /** `.name`, the path segment. */
  readonly segment: string;
  readonly rules: CompiledRules | undefined;
  /** The field's message type (or element/value type) can hold something to check. */
  readonly descend: boolean;
  /** Rules apply only when set (oneof member, proto3 `optional`). */
  readonly explicitPresence: boolean;
  /** The field's value in @bufbuild/protobuf's message shape (see visitField). */
  readonly get: (message: Record<string, unknown>) => unknown;
}

interface MessagePlan {
  readonly disabled: boolean;
  readonly fields: readonly FieldPlan[];
  readonly requiredOneofs: readonly { readonly oneof: DescOneof; readonly members: string }[];
}

const plans = new WeakMap<DescMessage, MessagePlan>();
const inProgress = new Set<DescMessage>();

/**
 * Checks `message` (of type `desc`) and everything inside it against its PGV rules. Returns every
 * violation (up to 100), each prefixed with its JSON path in proto field names:
 * `address.socket_address.port_value: must be <= 65535 (validate.rules)`.
 */
export function validateRules(desc: DescMessage, message: Message, pathPrefix = ''): string[] {
  const walk = new Walk(pathPrefix);
  walk.message(desc, message);
  return walk.errors;
}

function planFor(desc: DescMessage): MessagePlan {
  let plan = plans.get(desc);
  if (plan) return plan;
  inProgress.add(desc);
  try {
    plan = buildPlan(desc);
  } finally {
    inProgress.delete(desc);
  }
  plans.set(desc, plan);
  return plan;
}

/** Whether a value of this type can contain anything to check. Cycles answer "yes" (safe). */
function needsVisit(desc: DescMessage): boolean {
  if (desc.typeName === ANY) return true;
  if (desc.typeName.startsWith('google.protobuf.')) return false; // well-known types carry no rules
  if (inProgress.has(desc)) return true;
  const plan = planFor(desc);
  return !plan.disabled && (plan.fields.length > 0 || plan.requiredOneofs.length > 0);
}

function buildPlan(desc: DescMessage): MessagePlan {
  const registry = protoRegistry();
  const disabledExt = registry.getExtension('validate.disabled');
  const ignoredExt = registry.getExtension('validate.ignored');
  const disabled =
    (disabledExt !== undefined &&
      hasOption(desc, disabledExt) &&
      getOption(desc, disabledExt) === true) ||
    (ignoredExt !== undefined &&
      hasOption(desc, ignoredExt) &&
      getOption(desc, ignoredExt) === true);
  if (disabled) return { disabled, fields: [], requiredOneofs: [] };
  const rulesExt = registry.getExtension('validate.rules');
  const requiredExt = registry.getExtension('validate.required');
  const fields: FieldPlan[] = [];
  for (const field of desc.fields) {
    let rules: CompiledRules | undefined;
    if (rulesExt?.fieldKind === 'message' && hasOption(field, rulesExt)) {
      const json = toJson(rulesExt.message, getOption(field, rulesExt) as Message, {
        registry,
        useProtoFieldName: true,
      });
      rules = compileFieldRules(json as Record<string, unknown>, field.enum);
    }
    const descend = field.message !== undefined && needsVisit(field.message);
    if (!rules && !descend) continue;
    fields.push({
      field,
      segment: `.${field.name}`,
      rules,
      descend,
      explicitPresence: field.presence !== FeatureSet_FieldPresence.IMPLICIT,
      get: fieldGetter(field),
    });
  }
  const requiredOneofs = desc.oneofs
    .filter(
      (o) =>
        requiredExt !== undefined &&
        hasOption(o, requiredExt) &&
        getOption(o, requiredExt) === true,
    )
    .map((oneof) => ({ oneof, members: oneof.fields.map((f) => `"${f.name}"`).join(', ') }));
  return { disabled, fields, requiredOneofs };
}

function fieldGetter(field: DescField): (message: Record<string, unknown>) => unknown {
  const local = field.localName;
  if (!field.oneof) return (m) => m[local];
  const oneofLocal = field.oneof.localName;
  return (m) => {
    const selected = m[oneofLocal] as { case: string | undefined; value?: unknown };
    return selected.case === local ? selected.value : undefined;
  };
}

/** Map keys are record keys (strings); rules see them as the key's scalar type. */
function mapKey(type: ScalarType, key: string): unknown {
  switch (type) {
    case ScalarType.STRING:
      return key;
    case ScalarType.BOOL:
      return key === 'true';
    case ScalarType.INT64:
    case ScalarType.UINT64:
    case ScalarType.SINT64:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return BigInt(key);
    default:
      return Number(key);
  }
}

/** One validation pass: the error list and the path of the value being checked. */
class Walk {
  readonly errors: string[] = [];
  /** `.field`, `["key"]` or an index. */
  private readonly segments: (string | number)[] = [];

  constructor(private readonly prefix: string) {}

  private path(): string {
    let path = this.prefix;
    for (const s of this.segments) path += typeof s === 'number' ? `[${s}]` : s;
    return path.startsWith('.') ? path.slice(1) : path;
  }

  report(text: string): void {
    if (this.errors.length >= MAX_ERRORS) return;
    const path = this.path();
    this.errors.push(path === '' ? text : `${path}: ${text}`);
  }

  check(failure: string | undefined): void {
    if (failure !== undefined) this.report(`${failure} (validate.rules)`);
  }

  message(desc: DescMessage, message: Message): void {
    if (desc.typeName === ANY) {
      this.any(message);
      return;
    }
    const plan = planFor(desc);
    if (plan.disabled) return;
    const shape = message as unknown as Record<string, unknown>;
    for (const { oneof, members } of plan.requiredOneofs) {
      if ((shape[oneof.localName] as { case: string | undefined }).case === undefined) {
        this.segments.push(`.${oneof.name}`);
        this.report(`one of ${members} must be set (validate.required)`);
        this.segments.pop();
      }
    }
    for (const fieldPlan of plan.fields) {
      this.segments.push(fieldPlan.segment);
      this.field(fieldPlan, fieldPlan.get(shape));
      this.segments.pop();
    }
  }

  private field(plan: FieldPlan, value: unknown): void {
    const { field, rules, descend } = plan;
    switch (field.fieldKind) {
      case 'scalar':
      case 'enum':
        if (rules?.value && !(plan.explicitPresence && value === undefined))
          this.check(rules.value(value));
        return;
      case 'message':
        if (value === undefined) {
          // An unselected oneof member is not checked at all, `required` included (PGV semantics).
          if (rules?.required && !field.oneof) this.report('is required (validate.rules)');
          return;
        }
        this.messageValue(field.message, value, rules, descend);
        return;
      case 'list': {
        const list = value as unknown[];
        const repeated = rules?.repeated;
        if (repeated && !(repeated.ignoreEmpty && list.length === 0))
          this.check(repeated.check(list));
        if (!repeated?.items && !descend) return;
        for (let i = 0; i < list.length; i++) {
          this.segments.push(i);
          this.element(
            field.listKind === 'message' ? field.message : undefined,
            list[i],
            repeated?.items,
            descend,
          );
          this.segments.pop();
        }
        return;
      }
      case 'map': {
        const record = value as Record<string, unknown>;
        const mapRules = rules?.map;
        const keys = Object.keys(record);
        if (mapRules && !(mapRules.ignoreEmpty && keys.length === 0))
          this.check(mapRules.check(keys.length));
        if (!mapRules?.keys && !mapRules?.values && !descend) return;
        const valueDesc = field.mapKind === 'message' ? field.message : undefined;
        for (const key of keys) {
          this.segments.push(`[${JSON.stringify(key)}]`);
          if (mapRules?.keys?.value) this.check(mapRules.keys.value(mapKey(field.mapKey, key)));
          this.element(valueDesc, record[key], mapRules?.values, descend);
          this.segments.pop();
        }
        return;
      }
    }
  }

  /** One list item or map value, with the `items` / `values` rules. */
  private element(
    desc: DescMessage | undefined,
    value: unknown,
    rules: CompiledRules | undefined,
    descend: boolean,
  ): void {
    if (desc) this.messageValue(desc, value, rules, descend);
    else if (rules?.value) this.check(rules.value(value));
  }

  /**
   * A set message value. Singular wrapper fields arrive unboxed (a number, string, ...), list
   * items and map values of wrapper type as messages: the scalar rules see the wrapped value.
   */
  private messageValue(
    desc: DescMessage,
    value: unknown,
    rules: CompiledRules | undefined,
    descend: boolean,
  ): void {
    if (rules) {
      if (rules.message) this.check(rules.message(value as Message));
      if (rules.value && WRAPPERS.has(desc.typeName)) {
        const wrapped =
          typeof value === 'object' && value !== null && !(value instanceof Uint8Array)
            ? (value as { value: unknown }).value
            : value;
        this.check(rules.value(wrapped));
      }
      if (rules.skip) return;
    }
    if (descend) this.message(desc, value as Message);
  }

  /** Envoy validates what an Any holds (typed_config): unpack it with the registry and descend. */
  private any(message: Message): void {
    const { typeUrl, value } = message as unknown as { typeUrl: string; value: Uint8Array };
    if (typeUrl === '') return;
    const typeName = typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
    const inner = protoRegistry().getMessage(typeName);
    if (!inner) {
      this.segments.push('.@type');
      this.report(
        `unknown message type ${JSON.stringify(typeName)}: not an Envoy v3 or Ferry message known to this control plane`,
      );
      this.segments.pop();
      return;
    }
    if (!needsVisit(inner)) return;
    let decoded: Message;
    try {
      decoded = fromBinary(inner, value);
    } catch (err) {
      this.report(`cannot decode ${inner.typeName}: ${(err as Error).message}`);
      return;
    }
    if (inner.typeName !== ANY) {
      this.message(inner, decoded);
      return;
    }
    this.segments.push('.value');
    this.message(inner, decoded);
    this.segments.pop();
  }
}
