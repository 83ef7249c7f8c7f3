// Tools-only module: pins protoc-gen-go, protoc-gen-go-grpc and vtprotobuf (through this module's wrapper
// protoc-gen-go-cqcvtproto, which writes gen/**/*_vtproto.pb.go), which write packages/go/gen in
// `nox -s generate` (tools/cqcgen.py runs `go tool -n` here). A module of its own so that the code
// generators never reach the module graph of packages/go's consumers. Keep google.golang.org/protobuf at
// the version packages/go requires (packages/go/gomod_test.go checks it).
module github.com/crypto-quant/cqc/tools/gogen

go 1.26.0

tool (
	github.com/crypto-quant/cqc/tools/gogen/protoc-gen-go-cqcvtproto
	google.golang.org/grpc/cmd/protoc-gen-go-grpc
	google.golang.org/protobuf/cmd/protoc-gen-go
)

require (
	github.com/planetscale/vtprotobuf v0.6.1-0.20250313105119-ba97887b0a25
	google.golang.org/protobuf v1.36.12
)

require google.golang.org/grpc/cmd/protoc-gen-go-grpc v1.6.2 // indirect
