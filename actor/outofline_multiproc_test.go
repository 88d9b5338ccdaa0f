package actor

import (
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmactor/shmactor/internal/testproc"
)

func init() { helpers["big-node"] = helperBigNode }

// helperBigNode serves an actor named ACT_NAME that answers a Big with a
// Pong carrying its length and SHA-256, taking ACT_COUNT ms over each;
// on "send <name> <MiB> <n>" it sends n Bigs of that size to name,
// printing "sent <i>" after each.
func helperBigNode() error {
	s, err := helperJoin()
	if err != nil {
		return err
	}
	defer s.Close()
	delay, _ := strconv.Atoi(os.Getenv(envCount))
	if _, err := s.SpawnNamed(PropsFromFunc(func(ctx Context) {
		if b, ok := ctx.Message().(*Big); ok {
			time.Sleep(time.Duration(delay) * time.Millisecond)
			ctx.Respond(&Pong{N: len(b.Data), From: fmt.Sprintf("%x", sha256.Sum256(b.Data))})
		}
	}), os.Getenv(envName)); err != nil {
		return err
	}
	fmt.Println("ready")
	commands(func(cmd string, args []string) {
		if cmd == "blob" {
			// A blob made and filled, never sent.
			b, err := s.NewBlob(8 << 20)
			if err != nil {
				fmt.Println("blob error", err)
				return
			}
			clear(b.Bytes())
			fmt.Println("blob made")
			return
		}
		if cmd != "send" || len(args) != 3 {
			return
		}
		mib, _ := strconv.Atoi(args[1])
		n, _ := strconv.Atoi(args[2])
		pid, err := s.Lookup(args[0])
		if err != nil {
			fmt.Println("send error", err)
			return
		}
		data := make([]byte, mib<<20)
		for i := range n {
			if err := s.Send(pid, &Big{Data: data}); err != nil {
				fmt.Println("send error", err)
				return
			}
			fmt.Println("sent", i)
		}
	})
	return nil
}

// oolLeft returns the out-of-line segments and temporary files in s's
// namespace directory.
func oolLeft(t *testing.T, s *System) []string {
	t.Helper()
	names, err := s.Registry().Dir().List()
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, n := range names {
		if strings.HasPrefix(n, "ool.") || strings.HasPrefix(n, "tmp-") || strings.HasPrefix(n, "blob.") {
			left = append(left, n)
		}
	}
	return left
}

// filesLike lists the files of dir whose names start with one of the
// prefixes.
func filesLike(t *testing.T, dir string, prefixes ...string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		for _, p := range prefixes {
			if strings.HasPrefix(e.Name(), p) {
				out = append(out, e.Name())
			}
		}
	}
	return out
}

// awaitClean waits until s's namespace directory holds no out-of-line
// segment or temporary file, reaping as a crash would make a node do.
func awaitClean(t *testing.T, s *System, what string) {
	t.Helper()
	for end := time.Now().Add(15 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		s.Registry().Reap()
		if len(oolLeft(t, s)) == 0 {
			return
		}
	}
	t.Fatalf("%s: left in the namespace directory: %v", what, oolLeft(t, s))
}

// Messages far larger than an inbox cross processes whole, sealed or
// not: a 64 MiB request of random bytes is answered with its length and
// hash, and nothing is left in the namespace directory.
func TestLargeMessagesAcrossProcesses(t *testing.T) {
	for _, plain := range []bool{false, true} {
		t.Run(fmt.Sprintf("plaintext=%v", plain), func(t *testing.T) {
			root := testproc.TempDir(t)
			env := []string{envRoot + "=" + root, envNS + "=big", envName + "=hasher"}
			var opts []Option
			if plain {
				env = append(env, envPlain+"=1")
				opts = append(opts, WithPlaintext())
			}
			p := testproc.Start(t, "big-node", env...)
			p.Expect(t, "ready", time.Minute)
			s := joinT(t, root, "big", opts...)
			pid := mustLookup(t, s, "hasher")
			for _, size := range []int{100 << 10, 64 << 20} {
				data := make([]byte, size)
				rand.NewChaCha8([32]byte{byte(size)}).Read(data)
				got, err := s.Request(pid, &Big{Data: data}, time.Minute)
				if err != nil {
					t.Fatalf("%d bytes: %v", size, err)
				}
				want := fmt.Sprintf("%x", sha256.Sum256(data))
				if pong, ok := got.(*Pong); !ok || pong.N != size || pong.From != want {
					t.Fatalf("%d bytes: answered %+v, want %d and %s", size, got, size, want)
				}
			}
			// The sender keeps the segments its receiver took, for its
			// next messages, and removes them when it closes.
			dir := s.Registry().Dir().Path()
			s.Close()
			if left := filesLike(t, dir, "ool.", "tmp-"); len(left) != 0 {
				t.Fatalf("left in the namespace directory after Close: %v", left)
			}
		})
	}
}

// A sender killed with kill -9 while it sends large messages, holding a
// blob it has not sent, leaves nothing behind: what it sent is
// delivered, a segment it made but never sent is swept, a half-written
// one and the blob are reaped.
func TestOutOfLineSenderKilled(t *testing.T) {
	root := testproc.TempDir(t)
	s := joinT(t, root, "bigkill")
	var got atomic.Int64
	if _, err := s.SpawnNamed(PropsFromFunc(func(ctx Context) {
		if _, ok := ctx.Message().(*Big); ok {
			got.Add(1)
		}
	}), "sink"); err != nil {
		t.Fatal(err)
	}
	p := testproc.Start(t, "big-node", envRoot+"="+root, envNS+"=bigkill", envName+"=unused")
	p.Expect(t, "ready", time.Minute)
	if err := p.Send("blob"); err != nil {
		t.Fatal(err)
	}
	p.Expect(t, "blob made", time.Minute)
	if err := p.Send("send sink 32 1000"); err != nil {
		t.Fatal(err)
	}
	p.Expect(t, "sent 2", time.Minute)
	p.Kill()
	p.Wait(10 * time.Second)
	awaitClean(t, s, "after kill -9 of the sender")
	t.Logf("%d messages of 32 MiB arrived before the kill", got.Load())
	if got.Load() < 2 {
		t.Fatalf("%d messages arrived, the sender had sent 3", got.Load())
	}
}

// A receiver killed with kill -9 while large messages wait for it leaves
// nothing behind, and its sender's quota comes back.
func TestOutOfLineReceiverKilled(t *testing.T) {
	root := testproc.TempDir(t)
	p := testproc.Start(t, "big-node", envRoot+"="+root, envNS+"=bigrecv", envName+"=slow", envCount+"=300")
	p.Expect(t, "ready", time.Minute)
	s := joinT(t, root, "bigrecv", WithOutOfLineQuota(256<<20))
	pid := mustLookup(t, s, "slow")
	data := make([]byte, 16<<20)
	for i := 0; i < 8; i++ {
		if err := s.Send(pid, &Big{Data: data}); err != nil {
			t.Fatal(err)
		}
	}
	if len(oolLeft(t, s)) == 0 {
		t.Fatal("no segment waits for the slow receiver")
	}
	p.Kill()
	p.Wait(10 * time.Second)
	awaitClean(t, s, "after kill -9 of the receiver")
	// The whole quota is free again: 15 messages of 16 MiB fit at once
	// in 256 MiB (with room for their tags).
	q := joinT(t, root, "bigrecv")
	if _, err := q.SpawnNamed(PropsFromFunc(func(Context) {}), "slow2"); err != nil {
		t.Fatal(err)
	}
	pid2 := mustLookup(t, s, "slow2")
	for i := 0; i < 15; i++ {
		if err := s.Send(pid2, &Big{Data: data}); err != nil {
			t.Fatalf("message %d after the receiver's death: %v", i, err)
		}
	}
}

func init() { helpers["blob-node"] = helperBlobNode }

// helperBlobNode serves an actor named ACT_NAME that answers a Blob with
// a Pong carrying its length and SHA-256, after trying to write to it
// (Note "read-only" when that faults), and releases it.
func helperBlobNode() error {
	s, err := helperJoin()
	if err != nil {
		return err
	}
	defer s.Close()
	if _, err := s.SpawnNamed(PropsFromFunc(func(ctx Context) {
		if b, ok := ctx.Message().(*Blob); ok {
			view := b.Bytes()
			sum := fmt.Sprintf("%x", sha256.Sum256(view))
			ro := writeFaults(view)
			b.Release()
			ctx.Respond(&Pong{N: len(view), From: fmt.Sprintf("%s %v", sum, ro)})
		}
	}), os.Getenv(envName)); err != nil {
		return err
	}
	fmt.Println("ready")
	commands(func(string, []string) {})
	return nil
}

// writeFaults reports whether writing to b faults.
func writeFaults(b []byte) (faulted bool) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() { faulted = recover() != nil }()
	b[0] ^= 1
	return false
}

// A Blob filled in place reaches an actor in another process whole, as a
// read-only view, sealed or not; the sender's Blob is spent, and nothing
// is left in the namespace directory once the receiver releases it.
func TestBlobAcrossProcesses(t *testing.T) {
	for _, plain := range []bool{true, false} {
		t.Run(fmt.Sprintf("plaintext=%v", plain), func(t *testing.T) {
			root := testproc.TempDir(t)
			env := []string{envRoot + "=" + root, envNS + "=blob", envName + "=hasher"}
			var opts []Option
			if plain {
				env = append(env, envPlain+"=1")
				opts = append(opts, WithPlaintext())
			}
			p := testproc.Start(t, "blob-node", env...)
			p.Expect(t, "ready", time.Minute)
			s := joinT(t, root, "blob", opts...)
			pid := mustLookup(t, s, "hasher")
			const size = 48 << 20
			b, err := s.NewBlob(size)
			if err != nil {
				t.Fatal(err)
			}
			rand.NewChaCha8([32]byte{7}).Read(b.Bytes())
			want := fmt.Sprintf("%x true", sha256.Sum256(b.Bytes()))
			got, err := s.Request(pid, b, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if pong, ok := got.(*Pong); !ok || pong.N != size || pong.From != want {
				t.Fatalf("answered %+v, want %d bytes, %s (hash, read-only)", got, size, want)
			}
			if b.Bytes() != nil {
				t.Fatal("the sender still sees the bytes it sent")
			}
			if _, err := s.Request(pid, b, time.Minute); err == nil {
				t.Fatal("a Blob sent twice")
			}
			if left := filesLike(t, s.Registry().Dir().Path(), "blob."); len(left) != 0 {
				t.Fatalf("left in the namespace directory: %v", left)
			}
		})
	}
}
