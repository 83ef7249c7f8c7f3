/**
 * A registry of every CQC message, enum, extension and service, for lookups by full proto name,
 * JSON with google.protobuf.Any, and validation with CQC's shared (predefined) rules.
 */
import { createRegistry, type DescMessage, type Registry } from "@bufbuild/protobuf";
import { files } from "./gen/files.js";

/** Every CQC type. */
export const registry: Registry = createRegistry(...files);

/** The descriptor of the CQC message `fullName`; throws an Error naming it when unknown. */
export function messageSchema(fullName: string): DescMessage {
  const schema = registry.getMessage(fullName);
  if (schema === undefined) {
    throw new Error(`no message named "${fullName}" in the CQC contract`);
  }
  return schema;
}

/** Full names of every message declared in a CQC proto, sorted. */
export function messageNames(): string[] {
  const names: string[] = [];
  for (const type of registry) {
    if (type.kind === "message" && type.file.name.startsWith("cqc/")) {
      names.push(type.typeName);
    }
  }
  return names.sort();
}
