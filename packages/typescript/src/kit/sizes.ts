/**
 * The size rules of a message, checked by reading lengths only (the pre-check the Python and Go kits run
 * before the full validation): repeated `max_items`, map `max_pairs`, string `max_len` / `max_bytes`, bytes
 * `max_len`. The items of a field over its item limit are never visited, so an oversized request is refused
 * without walking it.
 */
import { type DescField, type DescMessage, getOption, hasOption, isFieldSet, type MessageShape } from "@bufbuild/protobuf";
import { reflect, type ReflectMessage } from "@bufbuild/protobuf/reflect";
import {
  BytesRulesSchema,
  field as fieldRulesOption,
  type FieldRules,
  Ignore,
  MapRulesSchema,
  RepeatedRulesSchema,
  StringRulesSchema,
} from "@bufbuild/protovalidate/gen/buf/validate/validate_pb.js";
import type { ContractViolation } from "../validation.js";

const cache = new Map<DescField, FieldRules | null>();

function rulesOf(f: DescField): FieldRules | undefined {
  let rules = cache.get(f);
  if (rules === undefined) {
    rules = hasOption(f, fieldRulesOption) ? getOption(f, fieldRulesOption) : null;
    cache.set(f, rules);
  }
  return rules ?? undefined;
}

/**
 * The size rules `message` breaks, sorted like `violations()` (field, then rule id); empty when every size
 * rule holds (then run the full validation). A subset of what `violations()` reports.
 */
export function sizeViolations<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>): ContractViolation[] {
  const found: ContractViolation[] = [];
  check(reflect(schema, message), "", found);
  return found.sort((a, b) =>
    a.field !== b.field ? (a.field < b.field ? -1 : 1) : a.ruleId !== b.ruleId ? (a.ruleId < b.ruleId ? -1 : 1) : 0,
  );
}

function check(m: ReflectMessage, prefix: string, found: ContractViolation[]): void {
  for (const f of m.fields) {
    const path = prefix === "" ? f.name : `${prefix}.${f.name}`;
    const rules = rulesOf(f);
    let over = false;
    if (rules !== undefined && rules.ignore !== Ignore.ALWAYS) {
      const kind = rules.type;
      if (f.fieldKind === "map" && kind.case === "map" && isFieldSet(kind.value, MapRulesSchema.field.maxPairs)) {
        const limit = kind.value.maxPairs;
        if (BigInt(m.get(f).size) > limit) {
          found.push({ field: path, ruleId: "map.max_pairs", message: `map must be at most ${limit} entries` });
          over = true;
        }
      } else if (f.fieldKind === "list" && kind.case === "repeated" && isFieldSet(kind.value, RepeatedRulesSchema.field.maxItems)) {
        const limit = kind.value.maxItems;
        if (BigInt(m.get(f).size) > limit) {
          found.push({ field: path, ruleId: "repeated.max_items", message: `must contain no more than ${limit} item(s)` });
          over = true;
        }
      }
      const scalar = f.fieldKind === "list" ? (kind.case === "repeated" ? kind.value.items : undefined) : rules;
      if (!over && f.fieldKind !== "map" && scalar !== undefined) {
        checkScalar(m, f, path, scalar, found);
      }
    }
    if (over || f.fieldKind === "map") continue;
    if (f.fieldKind === "list" && f.listKind === "message" && !f.message.typeName.startsWith("google.")) {
      const list = m.get(f);
      for (let i = 0; i < list.size; i++) {
        check(list.get(i) as ReflectMessage, `${path}[${i}]`, found);
      }
    } else if (f.fieldKind === "message" && !f.message.typeName.startsWith("google.") && m.isSet(f)) {
      check(m.get(f), path, found);
    }
  }
}

const encoder = new TextEncoder();

function checkScalar(m: ReflectMessage, f: DescField, path: string, rules: FieldRules, found: ContractViolation[]): void {
  const checks: { rule: string; limit: bigint; size: (v: unknown) => number; text: string }[] = [];
  const kind = rules.type;
  if (kind.case === "string") {
    if (isFieldSet(kind.value, StringRulesSchema.field.maxLen)) {
      const limit = kind.value.maxLen;
      checks.push({ rule: "string.max_len", limit, size: (v) => [...(v as string)].length, text: `must be at most ${limit} characters` });
    }
    if (isFieldSet(kind.value, StringRulesSchema.field.maxBytes)) {
      const limit = kind.value.maxBytes;
      checks.push({ rule: "string.max_bytes", limit, size: (v) => encoder.encode(v as string).length, text: `must be at most ${limit} bytes` });
    }
  } else if (kind.case === "bytes" && isFieldSet(kind.value, BytesRulesSchema.field.maxLen)) {
    const limit = kind.value.maxLen;
    checks.push({ rule: "bytes.max_len", limit, size: (v) => (v as Uint8Array).length, text: `must be at most ${limit} bytes` });
  }
  if (checks.length === 0) return;
  if (f.fieldKind === "list") {
    const list = m.get(f);
    for (let i = 0; i < list.size; i++) {
      const item = list.get(i);
      for (const c of checks) {
        if (BigInt(c.size(item)) > c.limit) found.push({ field: `${path}[${i}]`, ruleId: c.rule, message: c.text });
      }
    }
  } else if (f.fieldKind === "scalar") {
    const value = m.get(f);
    for (const c of checks) {
      if (BigInt(c.size(value)) > c.limit) found.push({ field: path, ruleId: c.rule, message: c.text });
    }
  }
}
