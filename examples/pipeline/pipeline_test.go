package main

import (
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// envArgs makes the test binary run the pipeline's parent with these
// arguments, as `go run ./examples/pipeline` would.
const envArgs = "PIPELINE_TEST_ARGS"

func TestMain(m *testing.M) {
	if ok, code := runRole(); ok {
		os.Exit(code)
	}
	if args, ok := os.LookupEnv(envArgs); ok {
		os.Exit(run(strings.Fields(args), os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// runPipeline runs the pipeline as a subprocess and returns its output.
func runPipeline(t *testing.T, args string) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), envArgs+"="+args)
	done := make(chan struct{})
	var out []byte
	go func() {
		out, err = cmd.CombinedOutput()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(3 * time.Minute):
		cmd.Process.Kill()
		<-done
		t.Fatalf("pipeline %s did not finish in 3 minutes:\n%s", args, out)
	}
	if err != nil {
		t.Fatalf("pipeline %s: %v\n%s", args, err, out)
	}
	t.Logf("pipeline %s:\n%s", args, out)
	return string(out)
}

// expectLines checks that each pattern matches a line of out.
func expectLines(t *testing.T, out string, patterns ...string) {
	t.Helper()
	for _, p := range patterns {
		if !regexp.MustCompile(`(?m)` + p).MatchString(out) {
			t.Errorf("no line matches %q", p)
		}
	}
}

func TestPipeline(t *testing.T) {
	for _, tc := range []struct {
		name, args string
	}{
		{"sealed", "-n 3000 -workers 3 -size 64"},
		{"plaintext", "-n 3000 -workers 2 -size 1024 -plaintext"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := runPipeline(t, tc.args)
			expectLines(t, out,
				`^consumed 3\.0k messages`,
				`^  messages     3000 of 3000 processed, 0 duplicates at the sink$`,
				`^  drops        0$`,
				`^  end to end   p50 \S+  p99 \S+ \(source to sink`,
				`^  per worker   w1 \d+\.\d%  w2 \d+\.\d%`,
				`^  result       every message accounted for$`,
			)
			if strings.Contains(out, "killed") {
				t.Error("a run without -chaos reports a killed worker")
			}
		})
	}
}

func TestPipelineChaos(t *testing.T) {
	out := runPipeline(t, "-n 20000 -workers 3 -size 64 -progress 1000 -chaos")
	expectLines(t, out,
		`^chaos: killed worker 3 \(pid \d+\) with kill -9 after \d+ messages$`,
		`^  messages     20000 of 20000 processed, 0 duplicates at the sink$`,
		`^  drops        0$`,
		`^  killed       1 worker; \d+ message\(s\) whose results it had not delivered sent again`,
		`^  result       every message accounted for$`,
	)
}

func TestPipelineBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-n", "0"}, {"-workers", "0"}, {"-size", "1"}, {"-chaos", "-workers", "1"}, {"-bogus"}} {
		var out strings.Builder
		if code := run(args, &out, &out); code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, out.String())
		}
		if !strings.Contains(out.String(), "pipeline") && !strings.Contains(out.String(), "flag") {
			t.Errorf("%v: unclear message %q", args, out.String())
		}
	}
}

// Every payload size the -size flag accepts goes through: records larger
// than the default inbox's 64 KiB too.
func TestPipelineSizes(t *testing.T) {
	for _, size := range []string{"8", "66000", "262144"} {
		t.Run(size, func(t *testing.T) {
			out := runPipeline(t, "-n 40 -workers 2 -size "+size)
			expectLines(t, out,
				`^  messages     40 of 40 processed, 0 duplicates at the sink$`,
				`^  result       every message accounted for$`,
			)
		})
	}
}

func init() {
	// chatty is a child that says much more than the parent reads.
	roles["chatty"] = func() error {
		say("ready")
		for i := range 100000 {
			say("noise %d", i)
		}
		commands(func(string, []string) {})
		return nil
	}
}

// A child whose lines nobody reads (a worker writing an error for each
// result it cannot deliver to a sink that is gone) does not keep the
// parent from stopping it.
func TestCleanupUnreadOutput(t *testing.T) {
	p := &pipeline{errw: io.Discard}
	ch, err := p.start("chatty", nil)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); len(ch.lines) < cap(ch.lines); {
		if time.Now().After(deadline) {
			t.Fatalf("%d lines of %d buffered after 10s", len(ch.lines), cap(ch.lines))
		}
		time.Sleep(10 * time.Millisecond)
	}
	done := make(chan struct{})
	go func() { p.cleanup(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		ch.cmd.Process.Kill()
		t.Fatal("cleanup did not stop a child with unread output within 5s")
	}
	if !ch.exited() {
		t.Fatal("child still running after cleanup")
	}
}
