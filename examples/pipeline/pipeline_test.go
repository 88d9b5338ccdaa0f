package main

import (
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
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
	for _, args := range [][]string{{"-n", "0"}, {"-workers", "0"}, {"-size", "1"}, {"-chaos", "-workers", "1"}, {"-bogus"},
		{"-in", "/nonexistent-pipeline-input"}, {"-in", ".", "-synthetic"}, {"-in", ".", "-n", "5"}} {
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

// makeTree writes a tree of files: many small ones, a few larger than
// the work queue's records (sent out of line, to the pool of analyzers), an
// empty one, and a hidden directory that is skipped. It returns the
// number of files and bytes, lines and words in them.
func makeTree(t *testing.T, small int) (dir string, files, bytes, lines, words int) {
	t.Helper()
	dir = t.TempDir()
	write := func(rel string, b []byte) {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i := range small {
		write(fmt.Sprintf("pkg%d/file%d.go", i%7, i), []byte(fmt.Sprintf("package pkg\n\nfunc f%d() int { return %d }\n", i, i)))
		files, bytes, lines, words = files+1, bytes+len(fmt.Sprintf("package pkg\n\nfunc f%d() int { return %d }\n", i, i)), lines+3, words+9
	}
	big := []byte(strings.Repeat("alpha beta gamma\n", (1<<20)/17+1))
	for i := range 3 {
		write(fmt.Sprintf("big/big%d.txt", i), big)
		files, bytes, lines, words = files+1, bytes+len(big), lines+(1<<20)/17+1, words+3*((1<<20)/17+1)
	}
	write("empty", nil)
	files++
	write(".hidden/skipped.go", []byte("package skipped\n"))
	return dir, files, bytes, lines, words
}

// The pipeline on real files: every file is processed once, large ones
// out of line, and the totals are the files' own.
func TestPipelineFiles(t *testing.T) {
	dir, files, bytes, lines, words := makeTree(t, 300)
	out := runPipeline(t, "-in "+dir+" -workers 2")
	expectLines(t, out,
		fmt.Sprintf(`^pipeline: %d files \(%.1f MB\) under `, files, float64(bytes)/1e6),
		`^pool of analyzers \(files over 192 KiB\): 2 members at the end, on 2 worker process\(es\)$`,
		fmt.Sprintf(`^  messages     %d of %d processed, 0 duplicates at the sink$`, files, files),
		fmt.Sprintf(`^  files        %d files, %.1f MB \(\S+ MB/s\), %d lines, %d words$`, files, float64(bytes)/1e6, lines, words),
		`^  identifiers  alpha 185043, beta 185043, gamma 185043, func 300, int 300, package 300, pkg 300, return 300, f0 1, f1 1$`,
		`^  result       every message accounted for$`,
	)
}

// kill -9 of a worker while it works through files: every file is still
// processed once.
func TestPipelineFilesChaos(t *testing.T) {
	dir, files, _, _, _ := makeTree(t, 3000)
	out := runPipeline(t, "-in "+dir+" -workers 3 -progress 100 -chaos")
	expectLines(t, out,
		`^chaos: killed worker 3 \(pid \d+\) with kill -9 after \d+ messages$`,
		`^pool of analyzers \(files over 192 KiB\): 3 members at the end, on 2 worker process\(es\)$`,
		fmt.Sprintf(`^  messages     %d of %d processed, 0 duplicates at the sink$`, files, files),
		`^  result       every message accounted for$`,
	)
}

// A file that takes a worker more than a second is slow, not lost: with
// no worker gone nothing is sent again, and no worker is said killed.
func TestPipelineSlowFile(t *testing.T) {
	dir := t.TempDir()
	// Base64 text: short identifiers by the million, slow to count.
	raw := make([]byte, 48<<20)
	x := uint32(1)
	for i := range raw {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		raw[i] = byte(x)
	}
	b := []byte(base64.StdEncoding.EncodeToString(raw))
	if err := os.WriteFile(filepath.Join(dir, "slow.txt"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "small.go"), []byte("package small\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := runPipeline(t, "-in "+dir+" -workers 1")
	expectLines(t, out,
		`^  messages     2 of 2 processed, 0 duplicates at the sink$`,
		`^  result       every message accounted for$`,
	)
	for _, bad := range []string{"never reached the sink", "killed"} {
		if strings.Contains(out, bad) {
			t.Errorf("no worker died, yet the pipeline says %q", bad)
		}
	}
}
