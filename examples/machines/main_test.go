package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

func TestMain(m *testing.M) {
	if os.Getenv(envRole) != "" {
		// A machine: the test binary run again by parent.
		if err := run(nil, os.Stdout); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// The example as a user runs it, with mutual TLS and in plaintext: every
// job is answered across the machines and its publication arrives once.
func TestMachines(t *testing.T) {
	for _, args := range [][]string{{"-n", "500"}, {"-n", "200", "-plaintext"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var out strings.Builder
			if err := run(args, &out); err != nil {
				t.Fatalf("%v\n%s", err, out.String())
			}
			for _, w := range []string{
				`(?m)^west: node 127\.0\.0\.1:\d+$`,
				`(?m)^east: looked up "hasher" at 127\.0\.0\.1:\d+: 127\.0\.0\.1:\d+/hasher$`,
				`(?m)^east: \d+ requests answered across machines in `,
				`(?m)^east: \d+ publications from west reached east through NATS \(bridge: \d+ imported, 0 refused\)$`,
				`(?m)^east: result every job answered and published once$`,
			} {
				if !regexp.MustCompile(w).MatchString(out.String()) {
					t.Errorf("output lacks %s:\n%s", w, out.String())
				}
			}
		})
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-n", "0"}, {"-bogus"}} {
		if err := run(args, &strings.Builder{}); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}
