// Command cqc-reference-server serves the in-memory CQC reference implementations of AssetRegistry,
// MarketData and VenueGateway (package cqctest), seeded with the examples of a testdata directory (without
// --testdata: the seed data embedded in the package), plus gRPC health and server reflection:
//
//	cqc-reference-server --addr 127.0.0.1:50051 --testdata ../../testdata
//	cqc-reference-server --addr 127.0.0.1:0 --port-file port.txt --testdata testdata
//	cqc-reference-server --addr 127.0.0.1:0 --rest-addr 127.0.0.1:0 --rest-port-file rest.txt --testdata testdata
//
// With --rest-addr it also serves REST (the google.api.http mappings of the unary RPCs, transcoded by
// connectrpc.com/vanguard; errors as google.rpc.Status JSON) on a second port, written to --rest-port-file.
//
// With --codec fast (or CQC_CODEC=fast in the environment) the gRPC server encodes and decodes with the fast
// codec (package cqccodec) instead of gRPC's default one; `nox -s interop` runs the MarketData and
// VenueGateway suites against it.
//
// With --port-file the bound port is written (atomically) once the server accepts connections. SIGTERM
// and SIGINT stop it gracefully.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"

	"google.golang.org/grpc"

	"github.com/crypto-quant/cqc/packages/go/cqccodec"
	"github.com/crypto-quant/cqc/packages/go/cqctest"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:50051", "address to listen on (port 0: any free port)")
	portFile := flag.String("port-file", "", "write the bound port to this file once serving")
	testdata := flag.String("testdata", "", "testdata directory whose examples/ seed the server (default: the embedded seed data)")
	restAddr := flag.String("rest-addr", "", "also serve REST (google.api.http mappings) on this address")
	restPortFile := flag.String("rest-port-file", "", "write the bound REST port to this file once serving")
	codec := flag.String("codec", os.Getenv("CQC_CODEC"), `gRPC codec: "fast" (package cqccodec) or "" / "shipped" (gRPC's default); default $CQC_CODEC`)
	listUnimplemented := flag.Bool("list-unimplemented", false, "print the RPCs answered with UNIMPLEMENTED and exit")
	flag.Parse()
	if *listUnimplemented {
		for _, name := range cqctest.Unimplemented() {
			fmt.Println(name)
		}
		return
	}
	log.SetFlags(0)
	log.SetPrefix("cqc-reference-server: ")
	var serverOptions []grpc.ServerOption
	switch *codec {
	case "", "shipped":
	case "fast":
		serverOptions = append(serverOptions, cqccodec.ServerOption())
		log.Print("gRPC codec: fast (cqccodec)")
	default:
		log.Fatalf("unknown --codec %q (want fast or shipped)", *codec)
	}
	if err := run(*addr, *portFile, *testdata, *restAddr, *restPortFile, serverOptions); err != nil {
		log.Fatal(err)
	}
}

func run(addr, portFile, testdata, restAddr, restPortFile string, serverOptions []grpc.ServerOption) error {
	if testdata == "" {
		log.Print("no --testdata: seeded from the data embedded in the package (cqctest.SeedExamples)")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	srv, err := cqctest.Start(ctx, cqctest.Options{Addr: addr, Testdata: testdata, ServerOptions: serverOptions})
	if err != nil {
		return err
	}
	if restAddr != "" {
		rest, err := cqctest.StartREST(ctx, srv, restAddr)
		if err != nil {
			srv.Stop()
			return err
		}
		defer func() { _ = rest.Stop() }()
		if restPortFile != "" {
			if err := writeAtomically(restPortFile, strconv.Itoa(rest.Port())+"\n"); err != nil {
				srv.Stop()
				return err
			}
		}
		log.Printf("serving REST on %s", rest.Addr())
	}
	if portFile != "" {
		if err := writeAtomically(portFile, strconv.Itoa(srv.Port())+"\n"); err != nil {
			srv.Stop()
			return err
		}
	}
	log.Printf("serving AssetRegistry, MarketData, VenueGateway, health and reflection on %s", srv.Addr())
	<-ctx.Done()
	srv.Stop()
	log.Print("stopped")
	return srv.Wait()
}

// writeAtomically writes a temporary file beside path and renames it, so readers never see a partial port.
func writeAtomically(path, content string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".port-*")
	if err != nil {
		return err
	}
	if _, err := tmp.WriteString(content); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("port file: %w", err)
	}
	return nil
}
