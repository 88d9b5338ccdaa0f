package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"

	proto "github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// The protoactor-go remote peer of the comparison: protoactor's own way
// between processes, gRPC streams over loopback TCP. Messages are
// wrapperspb.BytesValue, a protobuf message that needs no generated code.

func init() {
	childRoles["remote-node"] = childRemoteNode
}

const envSink = "BENCH_REMOTE_SINK"

// startRemote starts remoting for sys on a free loopback port, with
// protoactor's defaults except gRPC's 4 MiB limit on a received message:
// the endpoint writer batches up to 1000 messages into one, which is
// 64 MiB of 64 KiB messages.
func startRemote(sys *proto.ActorSystem) *remote.Remote {
	r := remote.NewRemote(sys, remote.Configure("127.0.0.1", 0,
		remote.WithServerOptions(grpc.MaxRecvMsgSize(1<<30))))
	r.Start()
	return r
}

func bytesValue(size int) *wrapperspb.BytesValue {
	return &wrapperspb.BytesValue{Value: bytes.Repeat([]byte{'x'}, size)}
}

// benchRemoteRTT times n RequestFutures to an echo actor in the child.
func benchRemoteRTT(size, n int) (result, error) {
	sys := quietSystem()
	defer sys.Shutdown()
	r := startRemote(sys)
	defer r.Shutdown(true)
	p, addr, err := startReady("remote-node")
	if err != nil {
		return result{}, err
	}
	defer p.kill()
	samples, err := requestLoop(sys.Root, proto.NewPID(addr, "echo"), bytesValue(size), n)
	if err != nil {
		return result{}, err
	}
	return latencyResult("compare", "", size, samples), nil
}

// benchRemoteStream times n one-way Sends of size-byte messages from the
// child to a counting actor here, from the go-ahead to the last one
// handled.
func benchRemoteStream(size, n int) (result, error) {
	sys := quietSystem()
	defer sys.Shutdown()
	r := startRemote(sys)
	defer r.Shutdown(true)
	got := newArrivals(n)
	if _, err := sys.Root.SpawnNamed(countProps(got), "sink"); err != nil {
		return result{}, err
	}
	el, err := streamFrom(got, "remote-node", envSink+"="+sys.ProcessRegistry.Address,
		envN+"="+strconv.Itoa(n), envSize+"="+strconv.Itoa(size))
	if err != nil {
		return result{}, err
	}
	return rateResult("compare", "", size, n, el), nil
}

// childRemoteNode serves an echo actor over remoting and prints its
// address; on "send" it sends BENCH_N messages of BENCH_SIZE bytes to the
// "sink" at BENCH_REMOTE_SINK and prints "sent".
func childRemoteNode() error {
	sys := quietSystem()
	defer sys.Shutdown()
	r := startRemote(sys)
	defer r.Shutdown(true)
	if _, err := sys.Root.SpawnNamed(echoProps(), "echo"); err != nil {
		return err
	}
	fmt.Println("ready", sys.ProcessRegistry.Address)
	for {
		switch cmd := readLine(); cmd {
		case "":
			return nil
		case "send":
			sink := proto.NewPID(os.Getenv(envSink), "sink")
			msg := bytesValue(envInt(envSize))
			for range envInt(envN) {
				sys.Root.Send(sink, msg)
			}
			fmt.Println("sent ok")
		default:
			return fmt.Errorf("unknown command %q", cmd)
		}
	}
}
