package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/shmactor/shmactor/registry"
)

// The registry benchmark: how long a change made by one process takes to
// reach another process's view (its watcher's event), measured against
// the registration time recorded in the name's record. Both processes read
// the same wall clock.

func init() {
	subcommands["registry"] = runRegistry
	childRoles["registry-watcher"] = childRegistryWatcher
}

const envRoot = "BENCH_ROOT"

func runRegistry(args []string) error {
	cf, err := parseFlags("registry", args, nil)
	if err != nil {
		return err
	}
	n := 5000
	if cf.quick {
		n = 300
	}
	root, err := os.MkdirTemp("", "shmactor-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(root)
	if def, err := os.Stat("/dev/shm"); err == nil && def.IsDir() {
		os.RemoveAll(root)
		if root, err = os.MkdirTemp("/dev/shm", "shmactor-bench-"); err != nil {
			return err
		}
		defer os.RemoveAll(root)
	}
	rp := &reporter{json: cf.json}
	rp.header("shmactor registry benchmark: watch propagation between two processes")
	r, err := registry.Join("bench", &registry.Options{Root: root})
	if err != nil {
		return err
	}
	defer r.Close()
	p, _, err := startReady("registry-watcher", envRoot+"="+root, envN+"="+strconv.Itoa(n))
	if err != nil {
		return err
	}
	defer p.kill()
	for i := range n {
		name := fmt.Sprint("name-", i)
		if err := r.Register(name, "$1"); err != nil {
			return err
		}
		if _, err := p.expect("seen " + name); err != nil { // one change in flight at a time
			return err
		}
		if err := r.Unregister(name); err != nil {
			return err
		}
	}
	line, err := p.expect("latencies")
	if err != nil {
		return err
	}
	samples, err := readSamples(filepath.Join(root, "latencies"), line)
	if err != nil {
		return err
	}
	res := result{Bench: "registry", Name: "watch propagation (register → other process's event)", Size: 0}
	res.latency(samples)
	res.Rate = 0
	rp.add(res)
	return p.wait()
}

func childRegistryWatcher() error {
	root, n := os.Getenv(envRoot), envInt(envN)
	r, err := registry.Join("bench", &registry.Options{Root: root})
	if err != nil {
		return err
	}
	defer r.Close()
	lat := make([]time.Duration, 0, n)
	done := make(chan struct{})
	stop := r.Watch(func(ev registry.Event) {
		if ev.Kind != registry.NameAdded {
			return
		}
		lat = append(lat, time.Since(ev.Entry.Registered))
		fmt.Println("seen", ev.Entry.Name)
		if len(lat) == n {
			close(done)
		}
	})
	defer stop()
	fmt.Println("ready")
	<-done
	f, err := os.Create(filepath.Join(root, "latencies"))
	if err != nil {
		return err
	}
	for _, d := range lat {
		fmt.Fprintln(f, d.Nanoseconds())
	}
	f.Close()
	fmt.Println("latencies", len(lat))
	return nil
}

func readSamples(path, count string) ([]time.Duration, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []time.Duration
	for _, f := range splitLines(string(b)) {
		ns, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("latency sample %q: %w", f, err)
		}
		out = append(out, time.Duration(ns))
	}
	if strconv.Itoa(len(out)) != count {
		return nil, fmt.Errorf("%d samples, the watcher reported %s", len(out), count)
	}
	return out, nil
}

func splitLines(s string) []string {
	var out []string
	for len(s) > 0 {
		i := 0
		for i < len(s) && s[i] != '\n' {
			i++
		}
		if i > 0 {
			out = append(out, s[:i])
		}
		if i == len(s) {
			break
		}
		s = s[i+1:]
	}
	return out
}
