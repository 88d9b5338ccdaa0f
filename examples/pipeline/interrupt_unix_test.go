//go:build unix

package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestPipelineInterrupt sends SIGINT (Ctrl-C) mid-run: the pipeline stops
// its children and removes its namespace directory.
func TestPipelineInterrupt(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), envArgs+"=-n 5000000 -workers 2 -progress 1000")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // a process group, as a terminal makes
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(out)
	var ns string
	for sc.Scan() {
		l := sc.Text()
		if i := strings.Index(l, "namespace "); i >= 0 && ns == "" {
			ns = l[i+len("namespace "):]
		}
		if strings.HasPrefix(l, "consumed") {
			break
		}
	}
	if ns == "" {
		t.Fatal("no namespace line before progress")
	}
	if _, err := os.Stat(ns); err != nil {
		t.Fatalf("namespace %s not there mid-run: %v", ns, err)
	}
	// Ctrl-C: SIGINT to the whole process group.
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	go func() {
		for sc.Scan() {
		}
	}()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
			t.Fatalf("exit: %v, want status 130", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("pipeline did not stop within 30s of SIGINT")
	}
	if _, err := os.Stat(filepath.Dir(ns)); !os.IsNotExist(err) {
		t.Fatalf("namespace directory %s left behind (%v)", filepath.Dir(ns), err)
	}
	// No child is left: nothing else is in the process group.
	if err := syscall.Kill(-cmd.Process.Pid, 0); err == nil {
		t.Fatal("processes of the pipeline's group still run after it exited")
	}
}
