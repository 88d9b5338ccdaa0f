package actor

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/shmactor/shmactor/internal/testproc"
)

// collect returns the sums and gauges a reader holds, by instrument name,
// for the node given.
func collect(t *testing.T, r *sdkmetric.ManualReader, node string) map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			var points []metricdata.DataPoint[int64]
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				points = d.DataPoints
			case metricdata.Gauge[int64]:
				points = d.DataPoints
			}
			for _, p := range points {
				if v, ok := p.Attributes.Value("shmactor.node"); ok && v.AsString() == node {
					out[m.Name] = p.Value
				}
			}
		}
	}
	return out
}

// With a meter provider, the counters of Stats are observed as
// OpenTelemetry metrics, per node; protoactor's own metrics come along.
func TestMetrics(t *testing.T) {
	root := testproc.TempDir(t)
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	a := joinT(t, root, "metrics", WithMeterProvider(mp))
	b := joinT(t, root, "metrics", WithMeterProvider(mp))
	if _, err := a.SpawnNamed(echo("a"), "echo"); err != nil {
		t.Fatal(err)
	}
	pid := mustLookup(t, b, "echo")
	const n = 25
	for i := 0; i < n; i++ {
		if _, err := b.Request(pid, &Ping{N: i}, 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	aNode, bNode := a.MetricAttributes()[1].Value.AsString(), b.MetricAttributes()[1].Value.AsString()
	got := collect(t, reader, bNode)
	if got["shmactor.messages.sent"] < n || got["shmactor.messages.received"] < n {
		t.Fatalf("b's metrics %v: want at least %d sent and received", got, n)
	}
	if _, ok := got["shmactor.inbox.depth"]; !ok {
		t.Fatalf("b's metrics %v lack the inbox depth", got)
	}
	if ga := collect(t, reader, aNode); ga["shmactor.messages.received"] < n {
		t.Fatalf("a's metrics %v", ga)
	}
	// protoactor-go's own metrics are switched on.
	if a.ActorSystem.Config.MetricsProvider != metric.MeterProvider(mp) {
		t.Fatal("protoactor-go's metrics are not on")
	}
	if _, err := Join("x", WithRoot(root), WithMeterProvider(nil)); err == nil {
		t.Fatal("a nil meter provider was taken")
	}
}

func init() { helpers["trace-node"] = helperTraceNode }

// helperTraceNode serves "traced", which answers a Ping with the trace
// id of the trace context the message carried.
func helperTraceNode() error {
	otel.SetTextMapPropagator(propagation.TraceContext{})
	s, err := helperJoin()
	if err != nil {
		return err
	}
	defer s.Close()
	if _, err := s.SpawnNamed(PropsFromFunc(func(ctx Context) {
		if _, ok := ctx.Message().(*Ping); ok {
			sc := trace.SpanContextFromContext(TraceContext(ctx))
			ctx.Respond(&Pong{From: sc.TraceID().String() + " " + sc.SpanID().String()})
		}
	}), "traced"); err != nil {
		return err
	}
	fmt.Println("ready")
	commands(func(string, []string) {})
	return nil
}

// A trace crosses processes: the trace context of RequestContext's ctx
// arrives in the headers, and the handler in the other process reads it
// back with TraceContext.
func TestTraceAcrossProcesses(t *testing.T) {
	otel.SetTextMapPropagator(propagation.TraceContext{})
	t.Cleanup(func() { otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator()) })
	root := testproc.TempDir(t)
	p := testproc.Start(t, "trace-node", envRoot+"="+root, envNS+"=trace")
	p.Expect(t, "ready", time.Minute)
	s := joinT(t, root, "trace")
	pid := mustLookup(t, s, "traced")
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, Remote: true}))
	got, err := s.RequestContext(ctx, pid, &Ping{}, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if want := tid.String() + " " + sid.String(); got.(*Pong).From != want {
		t.Fatalf("the handler saw trace %q, want %q", got.(*Pong).From, want)
	}
	// Without a trace context, nothing is carried.
	got, err = s.RequestContext(context.Background(), pid, &Ping{}, 10*time.Second)
	if empty := (trace.TraceID{}).String() + " " + (trace.SpanID{}).String(); err != nil || got.(*Pong).From != empty {
		t.Fatalf("no trace: %v, %v", got, err)
	}
	if err := s.SendContext(ctx, pid, &Ping{}); err != nil {
		t.Fatal(err)
	}
}
