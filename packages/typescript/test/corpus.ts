// Reads testdata/ (examples and conformance cases) for the TypeScript tests.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface Case {
  name: string;
  type: string;
  value: Json;
  valid: boolean;
  violations: string[]; // "field rule", sorted
}

export const testdata = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "testdata");

function isObject(value: Json | undefined): value is { [key: string]: Json } {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** RFC 7386 JSON merge patch: objects merge, null deletes a key, anything else replaces. */
export function mergePatch(target: Json | undefined, patch: Json): Json {
  if (!isObject(patch)) {
    return patch;
  }
  const result: { [key: string]: Json } = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) {
      delete result[key];
    } else {
      result[key] = mergePatch(result[key], value);
    }
  }
  return result;
}

function readJson(path: string): Json {
  return JSON.parse(readFileSync(path, "utf8")) as Json;
}

/** Every example message, keyed "<full message name>/<example name>". */
export function examples(): Map<string, Json> {
  const found = new Map<string, Json>();
  const root = join(testdata, "examples");
  for (const type of readdirSync(root).sort()) {
    for (const file of readdirSync(join(root, type)).sort()) {
      if (file.endsWith(".json")) {
        found.set(`${type}/${file.slice(0, -".json".length)}`, readJson(join(root, type, file)));
      }
    }
  }
  return found;
}

interface RawCase {
  name: string;
  type: string;
  base?: string;
  patch?: Json;
  json?: Json;
  expect: "valid" | { violations: { field: string; rule: string }[] };
}

/** Each example as a valid case, then every case of testdata/conformance/cases/*.json. */
export function cases(): Case[] {
  const loaded = examples();
  const result: Case[] = [...loaded.entries()].map(([key, value]) => ({
    name: `example/${key}`,
    type: key.split("/")[0] ?? "",
    value,
    valid: true,
    violations: [],
  }));
  const dir = join(testdata, "conformance", "cases");
  for (const file of readdirSync(dir).sort()) {
    if (!file.endsWith(".json")) continue;
    const doc = readJson(join(dir, file)) as unknown as { cases: RawCase[] };
    for (const raw of doc.cases) {
      let value: Json;
      if (raw.json !== undefined) {
        value = raw.json;
      } else {
        const base = raw.base === undefined ? undefined : loaded.get(raw.base);
        if (base === undefined) throw new Error(`${file}: case ${raw.name} names unknown base ${raw.base}`);
        value = mergePatch(base, raw.patch ?? {});
      }
      const violations = raw.expect === "valid" ? [] : raw.expect.violations.map((v) => `${v.field} ${v.rule}`).sort();
      result.push({ name: raw.name, type: raw.type, value, valid: raw.expect === "valid", violations });
    }
  }
  return result;
}
