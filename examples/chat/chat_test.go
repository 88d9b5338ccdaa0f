package main

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// envArgs makes the test binary run the chat with these arguments.
const envArgs = "CHAT_TEST_ARGS"

func TestMain(m *testing.M) {
	if args, ok := os.LookupEnv(envArgs); ok {
		os.Exit(run(strings.Fields(args), os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// term is a chat process driven through its stdin and stdout.
type term struct {
	t     *testing.T
	name  string
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines chan string
	done  chan struct{}
	err   strings.Builder
}

func startChat(t *testing.T, root, args string) *term {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tm := &term{t: t, name: args, cmd: exec.Command(exe, "-test.run=^$"), lines: make(chan string, 100), done: make(chan struct{})}
	tm.cmd.Env = append(os.Environ(), envArgs+"=-root "+root+" "+args)
	tm.cmd.Stderr = &tm.err
	if tm.in, err = tm.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := tm.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := tm.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			tm.lines <- sc.Text()
		}
		close(tm.lines)
		tm.cmd.Wait()
		close(tm.done)
	}()
	t.Cleanup(func() {
		tm.cmd.Process.Kill()
		<-tm.done
	})
	return tm
}

// expect waits for a line equal to want, or starting with it when it
// ends in "...".
func (tm *term) expect(want string) {
	tm.t.Helper()
	prefix, isPrefix := strings.CutSuffix(want, "...")
	deadline := time.After(10 * time.Second)
	for {
		select {
		case l, ok := <-tm.lines:
			if !ok {
				tm.t.Fatalf("%s exited before %q; stderr: %s", tm.name, want, tm.err.String())
			}
			if l == want || isPrefix && strings.HasPrefix(l, prefix) {
				return
			}
		case <-deadline:
			tm.t.Fatalf("%s: no line %q within 10s", tm.name, want)
		}
	}
}

func (tm *term) send(line string) { io.WriteString(tm.in, line+"\n") }

func TestChat(t *testing.T) {
	root := filepath.Join(t.TempDir(), "ns")
	alice := startChat(t, root, "-name alice -room lobby")
	alice.expect("chat: alice in #lobby (type /help)")
	bob := startChat(t, root, "-name bob -room lobby")
	bob.expect("chat: bob in #lobby (type /help)")
	alice.expect("bob joined")

	alice.send("hello")
	bob.expect("[lobby] alice: hello")
	alice.expect("[lobby] alice: hello")

	alice.send("/msg bob hi there")
	bob.expect("(direct) alice: hi there")
	alice.send("/msg carol hi")
	alice.expect(`chat: no user "carol" is online`)

	bob.send("/join dev")
	bob.expect("chat: joined #dev")
	bob.send("/who")
	bob.expect("online: alice (lobby), bob (dev, lobby)")
	bob.send("psst")
	alice.send("/join dev")
	alice.expect("chat: joined #dev")
	bob.send("anyone?")
	alice.expect("[dev] bob: anyone?")

	t.Run("duplicate name", func(t *testing.T) {
		dup := startChat(t, root, "-name alice")
		<-dup.done
		if code := dup.cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(dup.err.String(), `the name "alice" is taken`) {
			t.Fatalf("second alice: exit %d, stderr %q", code, dup.err.String())
		}
	})

	alice.cmd.Process.Kill()
	bob.expect("alice left")
	bob.send("/who")
	bob.expect("online: bob (dev, lobby)")
	bob.send("/quit")
	<-bob.done
	if code := bob.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("bob's /quit: exit %d", code)
	}
}

func TestChatBadFlags(t *testing.T) {
	for _, args := range [][]string{{}, {"-name", "a b"}, {"-name", "ok", "-room", "no.dots"}, {"-bogus"}} {
		var out strings.Builder
		if code := run(args, strings.NewReader(""), &out, &out); code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, out.String())
		}
	}
}
