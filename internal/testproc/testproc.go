package testproc

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// HelperEnv names the environment variable that selects a helper.
const HelperEnv = "SHMACTOR_TEST_HELPER"

// ExecEnv names the environment variable holding the wrapper command that
// children are started through.
const ExecEnv = "SHMACTOR_TEST_EXEC"

// Main runs the helper named by HelperEnv and exits, or runs the tests.
// A helper's error is printed to stderr and makes it exit with status 1.
func Main(m *testing.M, helpers map[string]func() error) {
	if name := os.Getenv(HelperEnv); name != "" {
		fn, ok := helpers[name]
		if !ok {
			fmt.Fprintf(os.Stderr, "testproc: unknown helper %q\n", name)
			os.Exit(2)
		}
		if err := fn(); err != nil {
			fmt.Fprintf(os.Stderr, "helper %s: %v\n", name, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// Emulated reports whether children run under an emulator wrapper, where
// tests scale their counts down.
func Emulated() bool { return os.Getenv(ExecEnv) != "" }

// Proc is a running helper process.
type Proc struct {
	Name  string
	Cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
	done  chan struct{}
	werr  error

	mu     sync.Mutex
	stderr strings.Builder
}

// Start starts helper name as a child process with the extra environment
// entries env ("KEY=value"). The child is killed when the test ends.
func Start(t testing.TB, name string, env ...string) *Proc {
	t.Helper()
	p, err := StartE(context.Background(), name, env...)
	if err != nil {
		t.Fatalf("start helper %s: %v", name, err)
	}
	t.Cleanup(func() {
		p.Kill()
		<-p.done
		if t.Failed() {
			if s := p.Stderr(); s != "" {
				t.Logf("helper %s (pid %d) stderr:\n%s", p.Name, p.Pid(), s)
			}
		}
	})
	return p
}

// StartE starts a helper without a test, for benchmarks and tools.
func StartE(ctx context.Context, name string, env ...string) (*Proc, error) {
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	argv := append(strings.Fields(os.Getenv(ExecEnv)), exe, "-test.run=^$", "-test.bench=^$")
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(append(os.Environ(), HelperEnv+"="+name), env...)
	p := &Proc{Name: name, Cmd: cmd, lines: make(chan string, 1024), done: make(chan struct{})}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	cmd.Stderr = writerFunc(func(b []byte) (int, error) {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.stderr.Len() < 1<<20 {
			p.stderr.Write(b)
		}
		return len(b), nil
	})
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
		p.werr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

// Pid returns the child's process id.
func (p *Proc) Pid() int { return p.Cmd.Process.Pid }

// Stderr returns what the child wrote to stderr so far.
func (p *Proc) Stderr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// Expect waits for a line of output starting with prefix and returns the
// rest of it. Lines before it are discarded. It fails the test when the
// child exits or the timeout passes first.
func (p *Proc) Expect(t testing.TB, prefix string, timeout time.Duration) string {
	t.Helper()
	s, err := p.ExpectE(prefix, timeout)
	if err != nil {
		t.Fatalf("helper %s: %v\nstderr:\n%s", p.Name, err, p.Stderr())
	}
	return s
}

// ExpectE is Expect returning an error instead of failing a test.
func (p *Proc) ExpectE(prefix string, timeout time.Duration) (string, error) {
	tm := time.NewTimer(timeout)
	defer tm.Stop()
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				<-p.done
				return "", fmt.Errorf("exited (%v) before printing %q", p.werr, prefix)
			}
			if rest, ok := strings.CutPrefix(l, prefix); ok {
				return strings.TrimSpace(rest), nil
			}
		case <-tm.C:
			return "", fmt.Errorf("no %q line within %v", prefix, timeout)
		}
	}
}

// Send writes a line to the child's stdin.
func (p *Proc) Send(line string) error {
	_, err := io.WriteString(p.stdin, line+"\n")
	return err
}

// CloseStdin closes the child's stdin, which helpers take as "finish".
func (p *Proc) CloseStdin() error { return p.stdin.Close() }

// Signal sends sig to the child.
func (p *Proc) Signal(sig os.Signal) error { return p.Cmd.Process.Signal(sig) }

// Kill sends SIGKILL (TerminateProcess on Windows).
func (p *Proc) Kill() { p.Cmd.Process.Kill() }

// Wait waits for the child to exit, at most timeout, and returns its exit
// error (nil for status 0).
func (p *Proc) Wait(timeout time.Duration) error {
	select {
	case <-p.done:
		return p.werr
	case <-time.After(timeout):
		return fmt.Errorf("helper %s did not exit within %v", p.Name, timeout)
	}
}

// Done is closed when the child has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Env returns an integer parameter from the environment, or def.
func EnvInt(key string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(key)); err == nil {
		return v
	}
	return def
}

// TempDir returns a fresh private directory for a test's namespace: under
// /dev/shm where it exists (so segments live in memory, as in production),
// else under the test's temporary directory. It is removed when the test
// ends.
func TempDir(t testing.TB) string {
	t.Helper()
	base := ""
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		base = "/dev/shm"
	}
	if base == "" {
		return filepath.Join(t.TempDir(), "ns")
	}
	d, err := os.MkdirTemp(base, "shmactor-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return filepath.Join(d, "ns")
}
