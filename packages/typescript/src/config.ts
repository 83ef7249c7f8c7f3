/**
 * Service configuration files: YAML or JSON → a `cqc.config.v1` message, validated, as Python's
 * `cqc.config.load` and Go's `cqc.LoadConfig` do. Keys are proto field names or JSON names, values as in
 * canonical proto JSON (durations "30s", enums by name). Every failure is a {@link ConfigError} naming the
 * file, the field path and the rule ("parse" for a file that does not decode). YAML files need the `yaml`
 * package (an optional peer dependency); JSON files need nothing more.
 */
import { type DescMessage, fromJson, type JsonValue, type MessageShape } from "@bufbuild/protobuf";
import { readFile } from "node:fs/promises";
import { registry } from "./registry.js";
import { type ContractViolation, violations } from "./validation.js";

/** A configuration file that cannot be used: the first problem's `field` ("" when unknown) and `rule`. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  constructor(
    readonly file: string,
    readonly field: string,
    readonly rule: string,
    detail: string,
    readonly violations: readonly ContractViolation[] = [],
  ) {
    super(`${file}:${field === "" ? "" : ` field ${field}`}: ${detail} [${rule}]`);
  }
}

/** Decodes and validates configuration `text` (YAML when `yaml`, else JSON) as `schema`. */
export async function loadConfigText<Desc extends DescMessage>(
  text: string,
  schema: Desc,
  options: { file?: string; yaml?: boolean } = {},
): Promise<MessageShape<Desc>> {
  const file = options.file ?? "<config>";
  const isYaml = options.yaml ?? true;
  let data: unknown;
  try {
    if (isYaml) {
      const { parse } = await import("yaml");
      data = parse(text);
    } else {
      data = JSON.parse(text);
    }
  } catch (error) {
    throw new ConfigError(file, "", "parse", `not valid ${isYaml ? "YAML" : "JSON"}: ${String(error)}`);
  }
  if (data === null || typeof data !== "object" || Array.isArray(data)) {
    throw new ConfigError(file, "", "parse", "the top level must be a mapping");
  }
  let message: MessageShape<Desc>;
  try {
    message = fromJson(schema, data as JsonValue, { registry });
  } catch (error) {
    throw new ConfigError(file, "", "parse", String(error));
  }
  const found = violations(schema, message);
  const first = found[0];
  if (first !== undefined) {
    const detail = found.map((v) => `${v.field === "" ? "(message)" : v.field}: ${v.message} [${v.ruleId}]`);
    throw new ConfigError(file, first.field, first.ruleId, detail.join("; "), found);
  }
  return message;
}

/**
 * Reads a configuration file (".yaml"/".yml" as YAML, anything else as JSON) as `schema`, e.g.
 * `await loadConfig("asset-registry.yaml", AssetRegistryConfigSchema)`; rejects with a {@link ConfigError}.
 */
export async function loadConfig<Desc extends DescMessage>(path: string, schema: Desc): Promise<MessageShape<Desc>> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    throw new ConfigError(path, "", "parse", `cannot read: ${String(error)}`);
  }
  return loadConfigText(text, schema, { file: path, yaml: /\.ya?ml$/i.test(path) });
}
