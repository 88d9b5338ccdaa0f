//go:build unix

package main

import (
	"bufio"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestPipelineInterrupt sends SIGINT (Ctrl-C) to the pipeline's process
// group mid-run, once, or twice as an impatient user does: the pipeline
// stops every child and removes its namespace directory within seconds.
// With eight workers, a worker whose sink is gone fails every result it
// sends, and writes an error line for each.
func TestPipelineInterrupt(t *testing.T) {
	for _, tc := range []struct {
		name    string
		signals int
	}{{"once", 1}, {"twice", 2}} {
		t.Run(tc.name, func(t *testing.T) {
			exe, err := os.Executable()
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(exe, "-test.run=^$")
			cmd.Env = append(os.Environ(), envArgs+"=-n 5000000 -workers 8 -progress 1000")
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // a process group, as a terminal makes
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			errOut, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			pgid := cmd.Process.Pid
			t.Cleanup(func() { syscall.Kill(-pgid, syscall.SIGKILL) })
			stopping := make(chan struct{}) // the parent says it is stopping
			var stderr strings.Builder
			stderrDone := make(chan struct{})
			go func() {
				defer close(stderrDone)
				sc := bufio.NewScanner(errOut)
				once := false
				for sc.Scan() {
					stderr.WriteString(sc.Text() + "\n")
					if strings.Contains(sc.Text(), "interrupted") && !once {
						once = true
						close(stopping)
					}
				}
			}()
			// Interrupt once the run is well under way: a couple of
			// seconds in, with results coming.
			sc := bufio.NewScanner(out)
			var ns string
			for started := time.Now(); sc.Scan(); {
				l := sc.Text()
				if i := strings.Index(l, "namespace "); i >= 0 && ns == "" {
					ns = l[i+len("namespace "):]
				}
				if strings.HasPrefix(l, "consumed") && time.Since(started) > 2*time.Second {
					break
				}
			}
			if ns == "" {
				t.Fatal("no namespace line before progress")
			}
			if _, err := os.Stat(ns); err != nil {
				t.Fatalf("namespace %s not there mid-run: %v", ns, err)
			}
			go io.Copy(io.Discard, out)
			// Ctrl-C: SIGINT to the whole process group.
			start := time.Now()
			if err := syscall.Kill(-pgid, syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			if tc.signals == 2 {
				// The second while the parent stops its children.
				select {
				case <-stopping:
				case <-time.After(time.Second):
				}
				if err := syscall.Kill(-pgid, syscall.SIGINT); err != nil && !errors.Is(err, syscall.ESRCH) {
					t.Fatal(err)
				}
			}
			done := make(chan error, 1)
			go func() { <-stderrDone; done <- cmd.Wait() }()
			select {
			case err := <-done:
				if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
					t.Fatalf("exit: %v, want status 130\n%s", err, stderr.String())
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("pipeline did not stop within 10s of SIGINT")
			}
			t.Logf("stopped %v after the first SIGINT", time.Since(start).Round(time.Millisecond))
			if _, err := os.Stat(filepath.Dir(ns)); !os.IsNotExist(err) {
				t.Fatalf("namespace directory %s left behind (%v)", filepath.Dir(ns), err)
			}
			// No child is left: nothing else is in the process group.
			if err := syscall.Kill(-pgid, 0); err == nil {
				t.Fatal("processes of the pipeline's group still run after it exited")
			}
		})
	}
}
