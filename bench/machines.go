package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/shmactor/shmactor/actor"
)

// Beyond one machine: two "machines" are two namespaces under separate
// roots, in two processes, whose nodes have remotes (actor.WithRemote) on
// 127.0.0.1. Their messages go through protoactor-go's remote (gRPC), as
// the protoactor remote rows' do, with mutual TLS from the nodes'
// identities or in plaintext like those rows. A third row is the local
// path of two nodes of one machine that both have a remote: shared
// memory, as without one.

func init() {
	childRoles["machine-node"] = childMachineNode
}

const (
	envProto      = "BENCH_PROTOBUF" // "1": send protobuf messages, not registered types
	envIdentity   = "BENCH_IDENTITY"
	envTrust      = "BENCH_TRUST"
	envRemoteMode = "BENCH_REMOTE_MODE" // "tls" or "plaintext"
)

// machineKeys writes an identity and a trust store listing it under dir
// and returns the environment that names them.
func machineKeys(dir string) ([]string, error) {
	id := filepath.Join(dir, "identity")
	line, err := actor.GenerateIdentity(id, "bench")
	if err != nil {
		return nil, err
	}
	trust := filepath.Join(dir, "trust")
	if err := os.WriteFile(trust, []byte(line+"\n"), 0o600); err != nil {
		return nil, err
	}
	return []string{envIdentity + "=" + id, envTrust + "=" + trust}, nil
}

// joinMachine joins namespace ns under root with a remote on a free
// loopback port, secured as the environment says.
func joinMachine(root, ns string) (*actor.System, error) {
	ro := []actor.RemoteOption{}
	opts := []actor.Option{actor.WithRoot(root)}
	if os.Getenv(envRemoteMode) == "plaintext" {
		ro = append(ro, actor.RemoteInsecure())
	} else {
		opts = append(opts, actor.WithIdentity(os.Getenv(envIdentity)), actor.WithTrustStore(os.Getenv(envTrust)))
	}
	return actor.Join(ns, append(opts, actor.WithRemote("127.0.0.1:0", ro...))...)
}

// machineEnv sets this process's environment for joinMachine and returns
// what a child needs of it.
func machineEnv(dir string, tls bool) ([]string, error) {
	mode := "plaintext"
	var env []string
	if tls {
		mode = "tls"
		var err error
		if env, err = machineKeys(dir); err != nil {
			return nil, err
		}
	}
	env = append(env, envRemoteMode+"="+mode)
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		os.Setenv(k, v)
	}
	return env, nil
}

// machineDir makes a directory for a row's machines under root and sets
// up this process's remote (machineEnv); it returns the directory and
// the environment a child needs.
func machineDir(root string, tls bool) (string, []string, error) {
	dir, err := os.MkdirTemp(root, "machines")
	if err != nil {
		return "", nil, err
	}
	env, err := machineEnv(dir, tls)
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	return dir, env, nil
}

// benchMachinesRTT times n requests from this machine's node to an echo
// actor on the other machine's, looked up by its address.
func benchMachinesRTT(root string, tls, pb bool, size, n int) (result, error) {
	dir, env, err := machineDir(root, tls)
	if err != nil {
		return result{}, err
	}
	defer os.RemoveAll(dir)
	p, addr, err := startReady("machine-node", append(env, envRoot+"="+filepath.Join(dir, "b"), envNS+"=b", envSize+"="+strconv.Itoa(size))...)
	if err != nil {
		return result{}, err
	}
	defer p.kill()
	sys, err := joinMachine(filepath.Join(dir, "a"), "a")
	if err != nil {
		return result{}, err
	}
	defer sys.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pid, err := sys.LookupAt(ctx, addr, "echo")
	if err != nil {
		return result{}, err
	}
	samples, err := requestLoop(sys.Root, pid, benchMsg(pb, size), n)
	if err != nil {
		return result{}, err
	}
	return latencyResult("compare", "", size, samples), nil
}

// benchMsg is a size-byte message: a protobuf BytesValue (pb), which
// crosses machines as protoactor's remote sends it, or a registered type
// (Blob), which crosses in msgpack inside an anypb.Any.
func benchMsg(pb bool, size int) any {
	if pb {
		return bytesValue(size)
	}
	return blob(size)
}

// benchMachinesStream times n one-way Sends from the other machine's
// node to a counting actor on this one's.
func benchMachinesStream(root string, tls, pb bool, size, n int) (result, error) {
	dir, env, err := machineDir(root, tls)
	if err != nil {
		return result{}, err
	}
	defer os.RemoveAll(dir)
	sys, err := joinMachine(filepath.Join(dir, "a"), "a")
	if err != nil {
		return result{}, err
	}
	defer sys.Close()
	got := newArrivals(n)
	if _, err := sys.SpawnNamed(countProps(got), "sink"); err != nil {
		return result{}, err
	}
	el, err := streamFrom(got, "machine-node", append(env, envRoot+"="+filepath.Join(dir, "b"), envNS+"=b",
		envSink+"="+sys.NodeAddress(sys.NodeID()), envN+"="+strconv.Itoa(n), envSize+"="+strconv.Itoa(size), envProto+"="+strconv.FormatBool(pb))...)
	if err != nil {
		return result{}, err
	}
	return rateResult("compare", "", size, n, el), nil
}

// benchLocalWithRemote is benchActorRTT's sealed row with a remote on
// both nodes: the path stays shared memory.
func benchLocalWithRemote(root string, size, n int) (result, error) {
	dir, env, err := machineDir(root, true)
	if err != nil {
		return result{}, err
	}
	defer os.RemoveAll(dir)
	ns := fmt.Sprintf("bench%d", nsSeq.Add(1))
	p, _, err := startReady("machine-node", append(env, envRoot+"="+root, envNS+"="+ns, envSize+"="+strconv.Itoa(size))...)
	if err != nil {
		return result{}, err
	}
	defer p.kill()
	sys, err := joinMachine(root, ns)
	if err != nil {
		return result{}, err
	}
	defer sys.Close()
	pid, err := sys.Lookup("echo")
	if err != nil {
		return result{}, err
	}
	sent := sys.Stats().Sent
	samples, err := requestLoop(sys.Root, pid, blob(size), n)
	if err != nil {
		return result{}, err
	}
	if sys.Stats().Sent-sent < uint64(n) {
		return result{}, fmt.Errorf("the requests did not go through shared memory")
	}
	return latencyResult("compare", "", size, samples), nil
}

// childMachineNode joins a namespace with a remote and serves "echo",
// printing "ready <its address>"; on "send" it sends BENCH_N Blobs to the
// "sink" at BENCH_REMOTE_SINK and prints "sent ok".
func childMachineNode() error {
	sys, err := joinMachine(os.Getenv(envRoot), os.Getenv(envNS))
	if err != nil {
		return err
	}
	defer sys.Close()
	if _, err := sys.SpawnNamed(echoProps(), "echo"); err != nil {
		return err
	}
	fmt.Println("ready", sys.NodeAddress(sys.NodeID()))
	for {
		switch cmd := readLine(); cmd {
		case "":
			return nil
		case "send":
			sink := actor.NewPID(os.Getenv(envSink), "sink")
			msg := benchMsg(os.Getenv(envProto) == "true", envInt(envSize))
			for range envInt(envN) {
				sys.Root.Send(sink, msg)
			}
			if st := sys.Stats(); st.Undeliverable > 0 {
				fmt.Printf("sent %d undeliverable\n", st.Undeliverable)
				continue
			}
			fmt.Println("sent ok")
		default:
			return fmt.Errorf("unknown command %q", cmd)
		}
	}
}
