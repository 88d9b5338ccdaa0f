package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/shmactor/shmactor/actor"
	"github.com/shmactor/shmactor/internal/testproc"
	"github.com/shmactor/shmactor/stream"
)

// gRPC over shmactor streams, between two processes. The test lives in
// the benchmark module, whose go.mod already carries gRPC (for
// protoactor's remote), so that the library's go.mod does not.

var testHelpers = map[string]func() error{"grpc-server": helperGRPCServer}

func TestMain(m *testing.M) { testproc.Main(m, testHelpers) }

const (
	envGRPCRoot = "GRPC_ROOT"
	envGRPCNS   = "GRPC_NS"
)

// helperGRPCServer serves gRPC's health service on the stream listener
// "health" until its stdin closes.
func helperGRPCServer() error {
	sys, err := actor.Join(os.Getenv(envGRPCNS), actor.WithRoot(os.Getenv(envGRPCRoot)))
	if err != nil {
		return err
	}
	defer sys.Close()
	ln, err := stream.Listen(sys, "health")
	if err != nil {
		return err
	}
	srv := grpc.NewServer()
	hs := health.NewServer()
	hs.SetServingStatus("shop", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	go srv.Serve(ln)
	defer srv.Stop()
	fmt.Println("ready")
	buf := make([]byte, 1)
	for {
		if _, err := os.Stdin.Read(buf); err != nil {
			return nil
		}
	}
}

// A gRPC client in this process calls a gRPC server in another, over a
// stream.Dial connection.
func TestGRPCOverStream(t *testing.T) {
	root := testproc.TempDir(t)
	p := testproc.Start(t, "grpc-server", envGRPCRoot+"="+root, envGRPCNS+"=grpc")
	p.Expect(t, "ready", time.Minute)
	sys, err := actor.Join("grpc", actor.WithRoot(root))
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close()
	conn, err := grpc.DialContext(context.Background(), "passthrough:///health",
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			return stream.Dial(ctx, sys, "health")
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := healthpb.NewHealthClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := range 20 {
		res, err := client.Check(ctx, &healthpb.HealthCheckRequest{Service: "shop"})
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if res.Status != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("call %d: status %v", i, res.Status)
		}
	}
	if _, err := client.Check(ctx, &healthpb.HealthCheckRequest{Service: "nobody"}); err == nil {
		t.Fatal("unknown service: no error")
	}
}
