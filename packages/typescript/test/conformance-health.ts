// grpc.health.v1.Health for the conformance executor (test/conformance-exec.ts). CQC generates no TypeScript
// for grpc/health/v1/health.proto (it is not a CQC contract), so the service descriptor is built at runtime
// from a FileDescriptorProto that mirrors https://github.com/grpc/grpc-proto/blob/master/grpc/health/v1/health.proto
// (same names, numbers and types: that is all the wire format and the JSON mapping need).
import { create, createFileRegistry, type DescService } from "@bufbuild/protobuf";
import {
  FieldDescriptorProto_Label,
  FieldDescriptorProto_Type,
  FileDescriptorProtoSchema,
} from "@bufbuild/protobuf/wkt";

const healthFile = create(FileDescriptorProtoSchema, {
  name: "grpc/health/v1/health.proto",
  package: "grpc.health.v1",
  syntax: "proto3",
  messageType: [
    {
      name: "HealthCheckRequest",
      field: [
        {
          name: "service",
          jsonName: "service",
          number: 1,
          label: FieldDescriptorProto_Label.OPTIONAL,
          type: FieldDescriptorProto_Type.STRING,
        },
      ],
    },
    {
      name: "HealthCheckResponse",
      field: [
        {
          name: "status",
          jsonName: "status",
          number: 1,
          label: FieldDescriptorProto_Label.OPTIONAL,
          type: FieldDescriptorProto_Type.ENUM,
          typeName: ".grpc.health.v1.HealthCheckResponse.ServingStatus",
        },
      ],
      enumType: [
        {
          name: "ServingStatus",
          value: [
            { name: "UNKNOWN", number: 0 },
            { name: "SERVING", number: 1 },
            { name: "NOT_SERVING", number: 2 },
            { name: "SERVICE_UNKNOWN", number: 3 },
          ],
        },
      ],
    },
  ],
  service: [
    {
      name: "Health",
      method: [
        {
          name: "Check",
          inputType: ".grpc.health.v1.HealthCheckRequest",
          outputType: ".grpc.health.v1.HealthCheckResponse",
        },
        {
          name: "Watch",
          inputType: ".grpc.health.v1.HealthCheckRequest",
          outputType: ".grpc.health.v1.HealthCheckResponse",
          serverStreaming: true,
        },
      ],
    },
  ],
});

const healthRegistry = createFileRegistry(healthFile, () => undefined);

function service(name: string): DescService {
  const found = healthRegistry.getService(name);
  if (found === undefined) {
    throw new Error(`${name} missing from the runtime health descriptor`);
  }
  return found;
}

/** The `grpc.health.v1.Health` service (Check and Watch). */
export const Health: DescService = service("grpc.health.v1.Health");
