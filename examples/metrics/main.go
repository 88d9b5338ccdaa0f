package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/shmactor/shmactor/actor"
	"github.com/shmactor/shmactor/topic"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "metrics:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("metrics", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:9464", "address to serve /metrics on")
	dur := fs.Duration("for", 2*time.Second, "how long to run")
	root := fs.String("root", "", "namespace root (default: the platform's)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	exporter, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return err
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
	defer mp.Shutdown(context.Background())

	opts := []actor.Option{actor.WithMeterProvider(mp)}
	if *root != "" {
		opts = append(opts, actor.WithRoot(*root))
	}
	const ns = "metrics-example"
	a, err := actor.Join(ns, opts...)
	if err != nil {
		return err
	}
	defer a.Close()
	b, err := actor.Join(ns, opts...)
	if err != nil {
		return err
	}
	defer b.Close()
	if _, err := a.SpawnNamed(actor.PropsFromFunc(func(ctx actor.Context) {
		if s, ok := ctx.Message().(string); ok {
			ctx.Respond("pong " + s)
		}
	}), "ping"); err != nil {
		return err
	}
	if _, err := topic.SubscribeFunc(a, "ticks", func(string, any) {}); err != nil {
		return err
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{})}
	go srv.Serve(ln)
	defer srv.Close()
	fmt.Fprintf(out, "serving http://%s/metrics for %v\n", ln.Addr(), *dur)

	pid, err := b.Lookup("ping")
	if err != nil {
		return err
	}
	for end := time.Now().Add(*dur); time.Now().Before(end); {
		if _, err := b.Request(pid, "x", time.Second); err != nil {
			return err
		}
		if err := topic.Publish(b, "ticks", "t"); err != nil {
			return err
		}
		time.Sleep(time.Millisecond)
	}
	resp, err := http.Get("http://" + ln.Addr().String() + "/metrics")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	for _, l := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(l, "shmactor_") || strings.HasPrefix(l, "topic_") {
			fmt.Fprintln(out, l)
		}
	}
	return nil
}
