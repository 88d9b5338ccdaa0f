package main

import (
	"regexp"
	"strings"
	"testing"
)

// The example serves the counters in Prometheus's text format: requests
// and publications show as non-zero counters of both nodes.
func TestMetricsExample(t *testing.T) {
	var out strings.Builder
	if err := run([]string{"-addr", "127.0.0.1:0", "-for", "300ms", "-root", t.TempDir()}, &out); err != nil {
		t.Fatal(err)
	}
	for _, re := range []string{
		`(?m)^shmactor_messages_sent_total\{[^}]*shmactor_node="[0-9a-f]{16}"[^}]*\} [1-9]\d*$`,
		`(?m)^shmactor_messages_received_total\{[^}]*\} [1-9]\d*$`,
		`(?m)^topic_published_total\{[^}]*\} [1-9]\d*$`,
		`(?m)^topic_subscription_delivered_total\{[^}]*topic_pattern="ticks"[^}]*\} [1-9]\d*$`,
	} {
		if !regexp.MustCompile(re).MatchString(out.String()) {
			t.Errorf("no line matches %s in:\n%s", re, out.String())
		}
	}
}
