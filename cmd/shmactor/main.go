package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shmactor/shmactor/actor"
	"github.com/shmactor/shmactor/internal/seal"
	"github.com/shmactor/shmactor/registry"
	"github.com/shmactor/shmactor/shm"
)

// Exit codes.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

// errUsage marks a usage error (exit code 2).
var errUsage = errors.New("usage")

const usage = `shmactor: look into and look after shmactor namespaces

  shmactor ls [-root DIR] [-json] [NAMESPACE...]
        namespaces, their nodes (pid, start time, alive or dead), names,
        topic subscriptions and work queues
  shmactor stats [-root DIR] [-json] [-watch DURATION] NAMESPACE
        each node's inbox counters, from shared memory, without joining
  shmactor clean [-root DIR] [-json] [NAMESPACE...]
        remove namespaces whose every node is dead (never a live one)
  shmactor pub [join flags] [-type T] NAMESPACE SUBJECT DATA
        publish DATA on SUBJECT
  shmactor sub [join flags] [-count N] NAMESPACE PATTERN
        print what is published on subjects matching PATTERN
  shmactor req [join flags] [-type T] [-timeout D] NAMESPACE ACTOR DATA
        send DATA to the actor named ACTOR and print its answer
        (join flags: -root DIR -plaintext -identity FILE -trust FILE;
        -type string (default), bytes, or a registered type's name,
        DATA then a JSON object of its fields)
  shmactor keygen -name NAME FILE
        make an identity in FILE (mode 0600) and print its trust line
  shmactor trust add [-store FILE] IDENTITY-FILE...
        append identities' trust lines to a trust store
  shmactor bench [compare flags]
        run "go run ./bench compare" (in a checkout of the module)

The default root is the platform's (on Linux /dev/shm/shmactor-<uid>).
Exit codes: 0 done, 1 a failure, 2 a usage error.
`

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, usage)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	cmds := map[string]func([]string, io.Writer) error{
		"ls": cmdLs, "stats": cmdStats, "clean": cmdClean, "keygen": cmdKeygen, "trust": cmdTrust, "bench": cmdBench,
		"pub": cmdPub, "sub": cmdSub, "req": cmdReq,
	}
	fn := cmds[args[0]]
	if fn == nil {
		fmt.Fprintf(stderr, "shmactor: unknown command %q\n\n%s", args[0], usage)
		return exitUsage
	}
	if err := fn(args[1:], stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintf(stderr, "shmactor %s: %v\n", args[0], err)
		if errors.Is(err, errUsage) {
			return exitUsage
		}
		return exitFail
	}
	return exitOK
}

// flags parses a command's flags; a bad flag is a usage error.
func flags(name string, args []string, def func(*flag.FlagSet)) (*flag.FlagSet, error) {
	fs := flag.NewFlagSet("shmactor "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	def(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(os.Stdout)
			fs.PrintDefaults()
			return nil, err
		}
		return nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	return fs, nil
}

// rootOf returns the namespaces' root: the flag's, or the default.
func rootOf(root string) (string, error) {
	if root != "" {
		return root, nil
	}
	return shm.DefaultRoot()
}

// namespaces returns the namespaces named, or all under root.
func namespaces(root string, named []string) ([]string, error) {
	if len(named) > 0 {
		return named, nil
	}
	return registry.Namespaces(root)
}

// lsNode is a node as ls shows it.
type lsNode struct {
	ID     string    `json:"id"`
	PID    int       `json:"pid"`
	Joined time.Time `json:"joined"`
	Alive  bool      `json:"alive"`
	Inbox  string    `json:"inbox"`
	Signer string    `json:"identity,omitempty"`
}

type lsName struct {
	Name   string `json:"name"`
	Node   string `json:"node"`
	Target string `json:"target"`
}

type lsTopic struct {
	Pattern string   `json:"pattern"`
	Group   string   `json:"group,omitempty"`
	Nodes   []string `json:"nodes"`
}

type lsNamespace struct {
	Namespace string    `json:"namespace"`
	Path      string    `json:"path"`
	Files     int       `json:"files"`
	Bytes     int64     `json:"bytes"`
	Nodes     []lsNode  `json:"nodes"`
	Names     []lsName  `json:"names"`
	Topics    []lsTopic `json:"topics"`
	Queues    []lsTopic `json:"queues"`
}

func hex16(id uint64) string { return fmt.Sprintf("%016x", id) }

// describe turns a snapshot into what ls shows. Names under "stream/"
// are stream listeners; shared names "topic/..." are subscriptions
// (their target says "p <pattern>" or "q <group> <pattern>"), and
// "queue/<name>" a work queue's consumers.
func describe(s *registry.Snapshot) lsNamespace {
	out := lsNamespace{Namespace: s.Namespace, Path: s.Path, Files: s.Files, Bytes: s.Bytes, Nodes: []lsNode{}, Names: []lsName{}, Topics: []lsTopic{}, Queues: []lsTopic{}}
	for _, n := range s.Nodes {
		out.Nodes = append(out.Nodes, lsNode{ID: hex16(n.ID), PID: n.PID, Joined: n.Joined, Alive: n.Alive, Inbox: n.Inbox, Signer: n.CertIdentity})
	}
	topics := map[string]*lsTopic{}
	queues := map[string]*lsTopic{}
	for _, e := range s.Names {
		switch {
		case !e.Shared:
			out.Names = append(out.Names, lsName{Name: e.Name, Node: hex16(e.Node), Target: e.Target})
		case strings.HasPrefix(e.Name, "topic/"):
			t := topics[e.Name]
			if t == nil {
				t = &lsTopic{}
				if g, p, ok := strings.Cut(strings.TrimPrefix(e.Target, "q "), " "); strings.HasPrefix(e.Target, "q ") && ok {
					t.Group, t.Pattern = g, p
				} else {
					t.Pattern = strings.TrimPrefix(e.Target, "p ")
				}
				topics[e.Name] = t
			}
			t.Nodes = append(t.Nodes, hex16(e.Node))
		case strings.HasPrefix(e.Name, "queue/"):
			q := queues[e.Name]
			if q == nil {
				q = &lsTopic{Pattern: strings.TrimPrefix(e.Name, "queue/")}
				queues[e.Name] = q
			}
			q.Nodes = append(q.Nodes, hex16(e.Node))
		}
	}
	for _, t := range topics {
		out.Topics = append(out.Topics, *t)
	}
	for _, q := range queues {
		out.Queues = append(out.Queues, *q)
	}
	sort.Slice(out.Topics, func(i, j int) bool {
		return out.Topics[i].Pattern+out.Topics[i].Group < out.Topics[j].Pattern+out.Topics[j].Group
	})
	sort.Slice(out.Queues, func(i, j int) bool { return out.Queues[i].Pattern < out.Queues[j].Pattern })
	return out
}

// nsArgs parses the flags of a command over namespaces (-root, -json,
// then the namespaces, all under root when none is named).
func nsArgs(name string, args []string) (root string, nss []string, asJSON bool, err error) {
	fs, err := flags(name, args, func(fs *flag.FlagSet) {
		fs.StringVar(&root, "root", "", "the namespaces' root directory (default: the platform's)")
		fs.BoolVar(&asJSON, "json", false, "print JSON, one object per namespace")
	})
	if err != nil {
		return "", nil, false, err
	}
	if root, err = rootOf(root); err != nil {
		return "", nil, false, err
	}
	nss, err = namespaces(root, fs.Args())
	return root, nss, asJSON, err
}

func cmdLs(args []string, w io.Writer) error {
	root, nss, asJSON, err := nsArgs("ls", args)
	if err != nil {
		return err
	}
	var failed error
	for _, ns := range nss {
		s, err := registry.Inspect(root, ns)
		if err != nil {
			failed = errors.Join(failed, err)
			continue
		}
		d := describe(s)
		if asJSON {
			b, _ := json.Marshal(d)
			fmt.Fprintln(w, string(b))
			continue
		}
		printNamespace(w, d)
	}
	if len(nss) == 0 && !asJSON {
		fmt.Fprintf(w, "no namespaces in %s\n", root)
	}
	return failed
}

func printNamespace(w io.Writer, d lsNamespace) {
	alive := 0
	for _, n := range d.Nodes {
		if n.Alive {
			alive++
		}
	}
	fmt.Fprintf(w, "namespace %s  (%s; %d files, %s; %d of %d nodes alive)\n", d.Namespace, d.Path, d.Files, bytesText(d.Bytes), alive, len(d.Nodes))
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	if len(d.Nodes) > 0 {
		fmt.Fprintln(tw, "  NODE\tPID\tJOINED\tSTATE\tIDENTITY")
		for _, n := range d.Nodes {
			state := "alive"
			if !n.Alive {
				state = "dead"
			}
			fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\t%s\n", n.ID, n.PID, n.Joined.Local().Format("2006-01-02 15:04:05"), state, n.Signer)
		}
	}
	if len(d.Names) > 0 {
		fmt.Fprintln(tw, "  NAME\tNODE\tTARGET\t\t")
		for _, n := range d.Names {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t\t\n", n.Name, n.Node, n.Target)
		}
	}
	if len(d.Topics) > 0 {
		fmt.Fprintln(tw, "  TOPIC\tGROUP\tSUBSCRIBER NODES\t\t")
		for _, t := range d.Topics {
			fmt.Fprintf(tw, "  %s\t%s\t%d: %s\t\t\n", t.Pattern, dash(t.Group), len(t.Nodes), strings.Join(t.Nodes, " "))
		}
	}
	if len(d.Queues) > 0 {
		fmt.Fprintln(tw, "  QUEUE\t\tCONSUMER NODES\t\t")
		for _, q := range d.Queues {
			fmt.Fprintf(tw, "  %s\t\t%d: %s\t\t\n", q.Pattern, len(q.Nodes), strings.Join(q.Nodes, " "))
		}
	}
	tw.Flush()
	fmt.Fprintln(w)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func bytesText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// statsRow is one node's inbox counters.
type statsRow struct {
	Node  string        `json:"node"`
	Alive bool          `json:"alive"`
	Inbox string        `json:"inbox"`
	Stats shm.RingStats `json:"stats"`
	Err   string        `json:"error,omitempty"`
	At    time.Time     `json:"at"`
}

func cmdStats(args []string, w io.Writer) error {
	var root string
	var asJSON bool
	var watch time.Duration
	fs, err := flags("stats", args, func(fs *flag.FlagSet) {
		fs.StringVar(&root, "root", "", "the namespaces' root directory (default: the platform's)")
		fs.BoolVar(&asJSON, "json", false, "print JSON, one object per node")
		fs.DurationVar(&watch, "watch", 0, "print again every DURATION until interrupted")
	})
	if err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: stats takes one namespace", errUsage)
	}
	if root, err = rootOf(root); err != nil {
		return err
	}
	ns := fs.Arg(0)
	for {
		rows, err := nodeStats(root, ns)
		if err != nil {
			return err
		}
		if asJSON {
			for _, r := range rows {
				b, _ := json.Marshal(r)
				fmt.Fprintln(w, string(b))
			}
		} else {
			tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintf(w, "namespace %s at %s\n", ns, time.Now().Format("15:04:05"))
			fmt.Fprintln(tw, "NODE\tSTATE\tQUEUED\tPUSHED\tTAKEN\tRECLAIMED\tLOST\tCORRUPT\t")
			for _, r := range rows {
				state := "alive"
				if !r.Alive {
					state = "dead"
				}
				if r.Err != "" {
					fmt.Fprintf(tw, "%s\t%s\t%s\t\t\t\t\t\t\n", r.Node, state, r.Err)
					continue
				}
				st := r.Stats
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t\n", r.Node, state, st.Len, st.Pushed, st.Popped, st.Reclaimed, st.Lost, st.Corrupt)
			}
			tw.Flush()
		}
		if watch <= 0 {
			return nil
		}
		time.Sleep(watch)
	}
}

// nodeStats reads each node's inbox counters from its ring.
func nodeStats(root, ns string) ([]statsRow, error) {
	s, err := registry.Inspect(root, ns)
	if err != nil {
		return nil, err
	}
	d, err := shm.OpenDir(s.Path, nil)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	var rows []statsRow
	for _, n := range s.Nodes {
		r := statsRow{Node: hex16(n.ID), Alive: n.Alive, Inbox: n.Inbox, At: time.Now()}
		var err error
		if r.Stats, err = shm.ReadRingStats(d, n.Inbox); err != nil {
			r.Err = err.Error()
		}
		rows = append(rows, r)
	}
	return rows, nil
}

func cmdClean(args []string, w io.Writer) error {
	root, nss, asJSON, err := nsArgs("clean", args)
	if err != nil {
		return err
	}
	var failed error
	for _, ns := range nss {
		removed, err := registry.Clean(root, ns)
		if err != nil {
			failed = errors.Join(failed, err)
			continue
		}
		if asJSON {
			fmt.Fprintf(w, "{\"namespace\":%q,\"removed\":%v}\n", ns, removed)
		} else if removed {
			fmt.Fprintf(w, "removed %s (every node dead)\n", ns)
		} else {
			fmt.Fprintf(w, "kept %s (a process lives in it)\n", ns)
		}
	}
	return failed
}

func cmdKeygen(args []string, w io.Writer) error {
	var name string
	fs, err := flags("keygen", args, func(fs *flag.FlagSet) {
		fs.StringVar(&name, "name", "", "the identity's name (letters, digits, '.', '_', '-')")
	})
	if err != nil {
		return err
	}
	if fs.NArg() != 1 || name == "" {
		return fmt.Errorf("%w: keygen -name NAME FILE", errUsage)
	}
	line, err := actor.GenerateIdentity(fs.Arg(0), name)
	if err != nil {
		return err
	}
	fmt.Fprintln(w, line)
	return nil
}

func cmdTrust(args []string, w io.Writer) error {
	if len(args) == 0 || args[0] != "add" {
		return fmt.Errorf("%w: trust add [-store FILE] IDENTITY-FILE...", errUsage)
	}
	var store string
	fs, err := flags("trust add", args[1:], func(fs *flag.FlagSet) {
		fs.StringVar(&store, "store", "trusted", "the trust store to append to (made 0600 if absent)")
	})
	if err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return fmt.Errorf("%w: trust add needs identity files", errUsage)
	}
	// What the store holds already, by name; it must be a store nodes
	// load, or what is appended would not count.
	have := map[string]string{}
	old, err := os.ReadFile(store)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return err
	default:
		if _, err := seal.LoadTrustStore(store); err != nil {
			return fmt.Errorf("not adding to %s, which nodes would refuse: %w", store, err)
		}
		for l := range strings.Lines(string(old)) {
			if f := strings.Fields(l); len(f) >= 2 && f[0][0] != '#' {
				have[f[0]] = f[1]
			}
		}
	}
	var lines []string
	for _, p := range fs.Args() {
		line, err := actor.IdentityTrustLine(p)
		if err != nil {
			return err
		}
		f := strings.Fields(line)
		switch key, ok := have[f[0]]; {
		case ok && key == f[1]:
			fmt.Fprintf(w, "%s is in %s already\n", f[0], store)
			continue
		case ok:
			return fmt.Errorf("%s trusts another key named %q already (%s has %s); remove that line first", store, f[0], p, f[1])
		}
		have[f[0]] = f[1]
		lines = append(lines, line)
	}
	if len(lines) == 0 {
		return nil
	}
	f, err := os.OpenFile(store, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	var b strings.Builder
	if len(old) > 0 && old[len(old)-1] != '\n' {
		b.WriteByte('\n') // a store edited by hand without a final newline
	}
	for _, l := range lines {
		b.WriteString(l + "\n")
	}
	if _, err := f.WriteString(b.String()); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	for _, l := range lines {
		fmt.Fprintf(w, "added %s to %s\n", strings.Fields(l)[0], store)
	}
	return nil
}

func cmdBench(args []string, w io.Writer) error {
	cmd := exec.Command("go", append([]string{"run", "./bench", "compare"}, args...)...)
	cmd.Stdout, cmd.Stderr = w, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go run ./bench compare (run it in a checkout of the module): %w", err)
	}
	return nil
}
