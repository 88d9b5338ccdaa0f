package actor

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	proto "github.com/asynkron/protoactor-go/actor"

	"github.com/shmactor/shmactor/internal/testproc"
	"github.com/shmactor/shmactor/internal/wire"
	"github.com/shmactor/shmactor/registry"
	"github.com/shmactor/shmactor/shm"
)

func init() { helpers["nil-target"] = helperNilTarget }

// helperNilTarget serves an echo actor named ACT_NAME; on "idle" it
// measures the CPU time it uses over one second of doing nothing and
// prints it with its dead-letter counts.
func helperNilTarget() error {
	s, err := helperJoin()
	if err != nil {
		return err
	}
	defer s.Close()
	name := os.Getenv(envName)
	if _, err := s.SpawnNamed(echo(name), name); err != nil {
		return err
	}
	fmt.Printf("ready %016x\n", s.NodeID())
	commands(func(cmd string, _ []string) {
		if cmd != "idle" {
			return
		}
		before, err := cpuTime()
		if err != nil {
			fmt.Println("idle unsupported", err)
			return
		}
		time.Sleep(time.Second)
		after, _ := cpuTime()
		st := s.Stats()
		fmt.Println("idle", int64(after-before), st.DeadLettered, st.Undecodable)
	})
	return nil
}

// sealedFrame returns a frame from sender to node, sealed the way the
// mailbox seals, holding one envelope per header, each with the raw
// msgpack payload.
func sealedFrame(t *testing.T, sender *System, node uint64, payload []byte, envs ...wire.Header) []byte {
	t.Helper()
	seq, epoch, err := sender.sealer.Next(node)
	if err != nil {
		t.Fatal(err)
	}
	b := wire.AppendHeader(nil, &wire.Header{Kind: wire.KindBatch, Flags: wire.FlagSealed, From: sender.NodeID(), To: node, Seq: seq, Epoch: epoch})
	hl := len(b)
	for _, h := range envs {
		env := wire.AppendHeader(nil, &h)
		env = append(env, payload...)
		b = binary.BigEndian.AppendUint32(b, uint32(len(env)))
		b = append(b, env...)
	}
	if b, err = sender.sealer.Seal(b, hl, node, seq); err != nil {
		t.Fatal(err)
	}
	return b
}

// A peer that puts a message without a value in a node's inbox (a bug, or
// a hand-made frame: senders refuse nil messages) cannot wedge the node:
// the receiver counts it and dead-letters it (a waiting requester fails
// fast), the actor it was meant for still answers at once, and the
// receiving process does not spin.
func TestNilPayloadFromPeer(t *testing.T) {
	root := testproc.TempDir(t)
	s := joinT(t, root, "nilpeer")
	p := testproc.Start(t, "nil-target", env(root, "nilpeer", envName+"=nil-echo")...)
	id, err := strconv.ParseUint(p.Expect(t, "ready", time.Minute), 16, 64)
	if err != nil {
		t.Fatal(err)
	}
	pid := mustLookup(t, s, "nil-echo")
	if _, err := s.Request(pid, &Ping{N: 1}, 10*time.Second); err != nil {
		t.Fatal(err)
	}

	// Two nil messages for the echo actor, in one frame: one sent, one a
	// request whose future here must fail fast with ErrDeadLetter.
	f := proto.NewFuture(s.ActorSystem, 10*time.Second)
	frame := sealedFrame(t, s, id, []byte{0xc0},
		wire.Header{Kind: wire.KindUser, Target: "nil-echo"},
		wire.Header{Kind: wire.KindUser, Target: "nil-echo", SenderAddress: f.PID().Address, SenderID: f.PID().Id},
	)
	inbox, err := shm.OpenRing(s.reg.Dir(), registry.NodeFile("inbox", id))
	if err != nil {
		t.Fatal(err)
	}
	defer inbox.Close()
	if err := inbox.TryPush(frame); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := f.Result(); !errors.Is(err, ErrDeadLetter) || time.Since(start) > 5*time.Second {
		t.Errorf("request with a nil message: %v after %v, want ErrDeadLetter at once", err, time.Since(start))
	}

	// The actor still answers, at once.
	for i := range 10 {
		start := time.Now()
		res, err := s.Request(pid, &Ping{N: i}, 10*time.Second)
		if pong, ok := res.(*Pong); err != nil || !ok || pong.N != i {
			t.Fatalf("request %d after the nil messages: %#v, %v", i, res, err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("request %d after the nil messages took %v", i, d)
		}
	}

	// And the process is idle when it has nothing to do.
	p.Send("idle")
	f2 := strings.Fields(p.Expect(t, "idle", time.Minute))
	if f2[0] == "unsupported" {
		t.Skip("no CPU time on this platform")
	}
	if len(f2) != 3 {
		t.Fatalf("idle report %q", f2)
	}
	ns, _ := strconv.ParseInt(f2[0], 10, 64)
	dead, _ := strconv.Atoi(f2[1])
	undecodable, _ := strconv.Atoi(f2[2])
	if dead != 2 || undecodable != 2 {
		t.Errorf("receiver counted %d dead-lettered, %d undecodable; want 2 and 2", dead, undecodable)
	}
	// A goroutine spinning on a wedged mailbox would use about the whole
	// second; an idle node uses a few milliseconds.
	if cpu := time.Duration(ns); cpu > 300*time.Millisecond && !testproc.Emulated() {
		t.Errorf("receiver used %v of CPU in 1s idle: something spins", cpu)
	}
}
