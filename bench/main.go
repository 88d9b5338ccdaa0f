package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"strings"
)

// childEnv selects a peer role when the binary is re-executed.
const childEnv = "SHMACTOR_BENCH_CHILD"

var subcommands = map[string]func(args []string) error{
	"ring": runRing,
}

var childRoles = map[string]func() error{}

// profileEnv, when set to a directory, makes every process of a run (the
// parent and each child) write a CPU profile there: <role>-<pid>.prof.
const profileEnv = "SHMACTOR_BENCH_CPUPROFILE"

// profile starts a CPU profile when profileEnv asks for one and returns
// the function that ends it.
func profile(role string) func() {
	dir := os.Getenv(profileEnv)
	if dir == "" {
		return func() {}
	}
	f, err := os.Create(filepath.Join(dir, fmt.Sprintf("%s-%d.prof", role, os.Getpid())))
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: profile:", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintln(os.Stderr, "bench: profile:", err)
		f.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

func main() {
	if role := os.Getenv(childEnv); role != "" {
		stop := profile(role)
		fn, ok := childRoles[role]
		if !ok {
			fmt.Fprintf(os.Stderr, "bench: unknown child role %q\n", role)
			os.Exit(2)
		}
		err := fn()
		stop()
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench child %s: %v\n", role, err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) < 2 || subcommands[os.Args[1]] == nil {
		usage()
		os.Exit(2)
	}
	stop := profile(os.Args[1])
	err := subcommands[os.Args[1]](os.Args[2:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func usage() {
	var names []string
	for n := range subcommands {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(os.Stderr, "usage: bench {%s} [-json] [-quick]\n", strings.Join(names, "|"))
}

// commonFlags are the flags every subcommand takes.
type commonFlags struct {
	json  bool
	quick bool
	runs  int
}

func parseFlags(name string, args []string, extra func(*flag.FlagSet)) (commonFlags, error) {
	var c commonFlags
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.BoolVar(&c.json, "json", false, "print one JSON object per result")
	fs.BoolVar(&c.quick, "quick", false, "fewer iterations (a smoke run, not a measurement)")
	fs.IntVar(&c.runs, "runs", 3, "repeat each measurement this many times and report the median run (compare: latency rows too, by p50)")
	if extra != nil {
		extra(fs)
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if c.runs < 1 {
		return c, fmt.Errorf("%s: -runs %d: want at least 1", name, c.runs)
	}
	if c.quick {
		c.runs = 1
	}
	if fs.NArg() != 0 {
		return c, fmt.Errorf("%s: unexpected arguments %q", name, fs.Args())
	}
	return c, nil
}
