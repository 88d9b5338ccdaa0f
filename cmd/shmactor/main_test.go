package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shmactor/shmactor/actor"
	"github.com/shmactor/shmactor/internal/seal"
	"github.com/shmactor/shmactor/topic"
)

// The test binary is the command when SHMACTOR_CLI is set, and a node
// that joins a namespace and waits when SHMACTOR_CLI_NODE is.
func TestMain(m *testing.M) {
	if os.Getenv("SHMACTOR_CLI") == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	if spec := os.Getenv("SHMACTOR_CLI_NODE"); spec != "" {
		root, ns, _ := strings.Cut(spec, "|")
		s, err := actor.Join(ns, actor.WithRoot(root))
		if err != nil {
			os.Exit(1)
		}
		if _, err := s.SpawnNamed(actor.PropsFromFunc(func(actor.Context) {}), "ghost"); err != nil {
			os.Exit(1)
		}
		os.Stdout.WriteString("ready\n")
		select {}
	}
	os.Exit(m.Run())
}

// cli runs the command in a process of its own and returns its output
// and exit code.
func cli(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "SHMACTOR_CLI=1")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String() + errb.String(), code
}

// A namespace with a live process (a name, a subscription, a work
// queue) and one whose only process was killed with kill -9: ls shows
// both as they are, clean removes the dead one only.
func TestLsAndClean(t *testing.T) {
	root := t.TempDir()
	live, err := actor.Join("live", actor.WithRoot(root))
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	if _, err := live.SpawnNamed(actor.PropsFromFunc(func(actor.Context) {}), "orders"); err != nil {
		t.Fatal(err)
	}
	if _, err := topic.SubscribeFunc(live, "orders.*", func(string, any) {}); err != nil {
		t.Fatal(err)
	}
	if _, err := live.ConsumeQueue("jobs", actor.PropsFromFunc(func(actor.Context) {})); err != nil {
		t.Fatal(err)
	}

	child := exec.Command(os.Args[0])
	child.Env = append(os.Environ(), "SHMACTOR_CLI_NODE="+root+"|dead")
	stdout, _ := child.StdoutPipe()
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	if line, _ := bufio.NewReader(stdout).ReadString('\n'); line != "ready\n" {
		t.Fatalf("the node process said %q", line)
	}
	child.Process.Kill()
	child.Wait()

	out, code := cli(t, "ls", "-root", root, "-json")
	if code != 0 {
		t.Fatalf("ls exited %d: %s", code, out)
	}
	got := map[string]lsNamespace{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var d lsNamespace
		if err := json.Unmarshal([]byte(line), &d); err != nil {
			t.Fatalf("ls -json line %q: %v", line, err)
		}
		got[d.Namespace] = d
	}
	l, d := got["live"], got["dead"]
	if len(l.Nodes) != 1 || !l.Nodes[0].Alive || l.Nodes[0].PID != os.Getpid() {
		t.Errorf("live nodes: %+v", l.Nodes)
	}
	if len(l.Names) != 1 || l.Names[0].Name != "orders" {
		t.Errorf("live names: %+v", l.Names)
	}
	if len(l.Topics) != 1 || l.Topics[0].Pattern != "orders.*" || len(l.Topics[0].Nodes) != 1 {
		t.Errorf("live topics: %+v", l.Topics)
	}
	if len(l.Queues) != 1 || l.Queues[0].Pattern != "jobs" {
		t.Errorf("live queues: %+v", l.Queues)
	}
	if len(d.Nodes) != 1 || d.Nodes[0].Alive || len(d.Names) != 1 || d.Names[0].Name != "ghost" {
		t.Errorf("dead namespace: %+v", d)
	}

	table, code := cli(t, "ls", "-root", root, "live")
	if code != 0 || !strings.Contains(table, "namespace live") || !strings.Contains(table, "orders.*") || !strings.Contains(table, "alive") {
		t.Errorf("ls table (exit %d):\n%s", code, table)
	}

	out, code = cli(t, "clean", "-root", root)
	if code != 0 || !strings.Contains(out, "removed dead") || !strings.Contains(out, "kept live") {
		t.Fatalf("clean (exit %d): %s", code, out)
	}
	if _, err := os.Stat(filepath.Join(root, "dead")); !os.IsNotExist(err) {
		t.Errorf("the dead namespace is still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "live")); err != nil {
		t.Errorf("the live namespace is gone: %v", err)
	}
	if _, err := live.Lookup("orders"); err != nil {
		t.Errorf("the live namespace broke: %v", err)
	}

	before, _ := os.ReadDir(filepath.Join(root, "live"))
	out, code = cli(t, "stats", "-root", root, "-json", "live")
	// stats reads without joining: it leaves no file (lease) behind.
	if after, _ := os.ReadDir(filepath.Join(root, "live")); len(after) != len(before) {
		t.Errorf("stats changed the namespace: %d files before, %d after", len(before), len(after))
	}
	var row statsRow
	if code != 0 || json.Unmarshal([]byte(strings.TrimSpace(out)), &row) != nil || !row.Alive || row.Err != "" {
		t.Errorf("stats (exit %d): %s", code, out)
	}
}

// keygen makes an identity; trust add puts its line in a trust store
// that a System then joins with.
func TestKeygenAndTrust(t *testing.T) {
	dir := t.TempDir()
	key, store := filepath.Join(dir, "alice.key"), filepath.Join(dir, "trusted")
	out, code := cli(t, "keygen", "-name", "alice", key)
	if code != 0 || !strings.HasPrefix(out, "alice ") {
		t.Fatalf("keygen (exit %d): %s", code, out)
	}
	if fi, err := os.Stat(key); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("identity file: %v %v", fi, err)
	}
	if out, code = cli(t, "keygen", "-name", "alice", key); code != 1 {
		t.Errorf("keygen over an existing file exited %d: %s", code, out)
	}
	if out, code = cli(t, "trust", "add", "-store", store, key); code != 0 || !strings.Contains(out, "added alice") {
		t.Fatalf("trust add (exit %d): %s", code, out)
	}
	s, err := actor.Join("trusting", actor.WithRoot(t.TempDir()), actor.WithIdentity(key), actor.WithTrustStore(store))
	if err != nil {
		t.Fatalf("join with the identity and the store: %v", err)
	}
	s.Close()
}

// Usage errors exit 2 and say what was wrong; help exits 0.
func TestUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		says string
	}{
		{nil, 2, "shmactor ls"},
		{[]string{"-h"}, 0, "shmactor ls"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"ls", "-bogus"}, 2, "bogus"},
		{[]string{"stats"}, 2, "one namespace"},
		{[]string{"trust", "remove"}, 2, "trust add"},
		{[]string{"ls", "-root", "/nonexistent-shmactor-root"}, 1, "nonexistent"},
	} {
		out, code := cli(t, tc.args...)
		if code != tc.code || !strings.Contains(out, tc.says) {
			t.Errorf("%q: exit %d, want %d, output %q (want it to say %q)", tc.args, code, tc.code, out, tc.says)
		}
	}
}

// Order is a registered message type the command knows only by name.
type Order struct {
	ID     int
	Status string
}

func init() {
	if err := actor.RegisterMessageName[*Order]("cli.Order"); err != nil {
		panic(err)
	}
}

// pub, sub and req against a live namespace: a string published by one
// command reaches another's subscription; a registered type given as
// JSON reaches an actor as its Go value, whose string answer is printed.
func TestPubSubReq(t *testing.T) {
	root := t.TempDir()
	s, err := actor.Join("shop", actor.WithRoot(root))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.SpawnNamed(actor.PropsFromFunc(func(ctx actor.Context) {
		switch m := ctx.Message().(type) {
		case *Order:
			ctx.Respond(fmt.Sprintf("order %d is %s", m.ID, m.Status))
		case string:
			ctx.Respond("echo " + m)
		}
	}), "orders"); err != nil {
		t.Fatal(err)
	}

	out, code := cli(t, "req", "-root", root, "-type", "cli.Order", "shop", "orders", `{"ID": 7, "Status": "paid"}`)
	if code != 0 || !strings.Contains(out, `answer "order 7 is paid"`) {
		t.Fatalf("req of a registered type (exit %d): %s", code, out)
	}
	out, code = cli(t, "req", "-root", root, "shop", "orders", "hello")
	if code != 0 || !strings.Contains(out, `answer "echo hello"`) {
		t.Fatalf("req of a string (exit %d): %s", code, out)
	}
	if out, code = cli(t, "req", "-root", root, "shop", "nobody", "x"); code != 1 || !strings.Contains(out, "nobody") {
		t.Fatalf("req to a name nobody holds (exit %d): %s", code, out)
	}
	if out, code = cli(t, "req", "-root", root, "-type", "cli.Order", "shop", "orders", "not json"); code != 2 {
		t.Fatalf("req with bad JSON (exit %d): %s", code, out)
	}

	// sub in a process of its own, then pub from another.
	sub := exec.Command(os.Args[0], "sub", "-root", root, "-count", "1", "shop", "news.>")
	sub.Env = append(os.Environ(), "SHMACTOR_CLI=1")
	stdout, _ := sub.StdoutPipe()
	if err := sub.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewReader(stdout)
	if l, _ := lines.ReadString('\n'); !strings.HasPrefix(l, "subscribed") {
		t.Fatalf("sub said %q", l)
	}
	// The subscription is in the registry once sub says so; a publisher
	// that joins now sees it.
	if out, code := cli(t, "pub", "-root", root, "shop", "news.today", "it works"); code != 0 {
		t.Fatalf("pub (exit %d): %s", code, out)
	}
	got := make(chan string, 1)
	go func() { l, _ := lines.ReadString('\n'); got <- l }()
	select {
	case l := <-got:
		if l != "news.today \"it works\"\n" {
			t.Fatalf("sub printed %q", l)
		}
	case <-time.After(10 * time.Second):
		sub.Process.Kill()
		t.Fatal("sub printed nothing")
	}
	if err := sub.Wait(); err != nil {
		t.Fatalf("sub -count 1: %v", err)
	}
}

// trust add keeps the store one that nodes load: it appends on a line
// of its own after a store edited by hand without a final newline, an
// identity already trusted is not listed twice, and an identity whose
// name is trusted with another key is refused, store unchanged.
func TestTrustAddKeepsStoreLoadable(t *testing.T) {
	dir := t.TempDir()
	alice, bob, store := filepath.Join(dir, "alice.key"), filepath.Join(dir, "bob.key"), filepath.Join(dir, "trusted")
	line, code := cli(t, "keygen", "-name", "alice", alice)
	if code != 0 {
		t.Fatalf("keygen alice (exit %d): %s", code, line)
	}
	if out, code := cli(t, "keygen", "-name", "bob", bob); code != 0 {
		t.Fatalf("keygen bob (exit %d): %s", code, out)
	}
	// Written by hand: a comment, and alice's line with no newline.
	if err := os.WriteFile(store, []byte("# ours\n"+strings.TrimSpace(line)), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, code := cli(t, "trust", "add", "-store", store, bob); code != 0 {
		t.Fatalf("trust add bob (exit %d): %s", code, out)
	}
	if out, code := cli(t, "trust", "add", "-store", store, bob, alice); code != 0 {
		t.Fatalf("trust add bob alice again (exit %d): %s", code, out)
	}
	load := func() *seal.TrustStore {
		t.Helper()
		ts, err := seal.LoadTrustStore(store)
		if err != nil {
			b, _ := os.ReadFile(store)
			t.Fatalf("the store no longer loads: %v\n%s", err, b)
		}
		return ts
	}
	if n := load().Len(); n != 2 {
		t.Errorf("store trusts %d identities, want 2", n)
	}
	before, _ := os.ReadFile(store)
	other := filepath.Join(dir, "other-alice.key")
	if out, code := cli(t, "keygen", "-name", "alice", other); code != 0 {
		t.Fatalf("keygen another alice (exit %d): %s", code, out)
	}
	if out, code := cli(t, "trust", "add", "-store", store, other); code != 1 || !strings.Contains(out, "alice") {
		t.Errorf("trust add of another key named alice: exit %d, want 1: %s", code, out)
	}
	if after, _ := os.ReadFile(store); !bytes.Equal(after, before) {
		t.Errorf("a refused trust add changed the store:\n%s", after)
	}
	load()
}

// trust add refuses a store that nodes would refuse (here, writable by
// others) rather than report success adding to it.
func TestTrustAddRefusesUnloadableStore(t *testing.T) {
	dir := t.TempDir()
	key, store := filepath.Join(dir, "alice.key"), filepath.Join(dir, "trusted")
	if out, code := cli(t, "keygen", "-name", "alice", key); code != 0 {
		t.Fatalf("keygen (exit %d): %s", code, out)
	}
	if err := os.WriteFile(store, []byte("# ours\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(store, 0o666); err != nil {
		t.Fatal(err)
	}
	out, code := cli(t, "trust", "add", "-store", store, key)
	if code != 1 || !strings.Contains(out, "writable") {
		t.Errorf("trust add to a store of mode 0666: exit %d, want 1 saying why: %s", code, out)
	}
	if b, _ := os.ReadFile(store); string(b) != "# ours\n" {
		t.Errorf("store changed: %q", b)
	}
}
