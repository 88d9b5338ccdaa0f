package main

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func TestMain(m *testing.M) {
	if ns := os.Getenv(envServe); ns != "" {
		// The server process: the test binary run again by client.
		if err := server(ns, rootOpt(os.Getenv(envRoot)), os.Stdout); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// The example as a user runs it: a server process and this one, lines
// answered through one listener and a page fetched through the other.
func TestMemSocket(t *testing.T) {
	var out strings.Builder
	if err := run([]string{"-root", t.TempDir(), "-ns", "memsocket-test"}, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	want := []string{
		`(?m)^dialed memsocket-test/[0-9a-f]{16}/upper from memsocket-test/[0-9a-f]{16}/stream\$\d+$`,
		`(?m)^upper: HELLO$`,
		`(?m)^upper: BYTES IN SHARED MEMORY$`,
		`(?m)^upper: SEALED END TO END$`,
		`(?m)^web: 200 OK hello, memsocket-test/[0-9a-f]{16}/stream\$\d+, from process \d+$`,
	}
	for _, w := range want {
		if !regexp.MustCompile(w).MatchString(out.String()) {
			t.Errorf("output lacks %s:\n%s", w, out.String())
		}
	}
	if strings.Contains(out.String(), "from process "+strconv.Itoa(os.Getpid())) {
		t.Error("the page was served by this process, not the server's")
	}
}
