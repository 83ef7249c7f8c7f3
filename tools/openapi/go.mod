// Pins gnostic's protoc-gen-openapi, which writes docs/openapi/*.openapi.yaml in `nox -s generate`
// (`go tool protoc-gen-openapi`). A module of its own so that the tool's dependencies never reach
// packages/go's consumers.
module github.com/crypto-quant/cqc/tools/openapi

go 1.26.0

tool github.com/google/gnostic/cmd/protoc-gen-openapi

require (
	github.com/google/gnostic v0.7.1 // indirect
	github.com/google/gnostic-models v0.7.0 // indirect
	go.yaml.in/yaml/v3 v3.0.4 // indirect
	google.golang.org/genproto/googleapis/api v0.0.0-20250811160224-6b04f9b4fc78 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20250811160224-6b04f9b4fc78 // indirect
	google.golang.org/protobuf v1.36.7 // indirect
)
