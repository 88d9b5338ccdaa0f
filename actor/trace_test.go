package actor

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// SendContext reports what Send reports, whatever the PID: with a trace
// context to carry as without one. A local actor continues the trace.
func TestSendContextReportsWhatSendReports(t *testing.T) {
	otel.SetTextMapPropagator(propagation.TraceContext{})
	t.Cleanup(func() { otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator()) })
	s := joinT(t, t.TempDir(), "tracelocal")
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, Remote: true}))

	foreign := &PID{Address: "elsewhere:8080", Id: "someone"}
	plain := s.Send(foreign, &Ping{})
	if plain == nil {
		t.Fatal("Send to a PID of no shmactor namespace succeeded")
	}
	if err := s.SendContext(ctx, foreign, &Ping{}); !errors.Is(err, ErrNotShmPID) {
		t.Errorf("SendContext to a PID of no shmactor namespace: %v, want %v (Send's: %v)", err, ErrNotShmPID, plain)
	}
	if _, err := s.RequestContext(ctx, foreign, &Ping{}, time.Second); !errors.Is(err, ErrNotShmPID) {
		t.Errorf("RequestContext to a PID of no shmactor namespace: %v, want %v", err, ErrNotShmPID)
	}

	seen := make(chan string, 1)
	pid, err := s.SpawnNamed(PropsFromFunc(func(c Context) {
		if _, ok := c.Message().(*Ping); ok {
			sc := trace.SpanContextFromContext(TraceContext(c))
			seen <- sc.TraceID().String()
		}
	}), "traced-here")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SendContext(ctx, pid, &Ping{}); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-seen:
		if got != tid.String() {
			t.Errorf("local actor saw trace %s, want %s", got, tid)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("local actor got nothing")
	}

	q, err := s.QueuePID("jobs")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SendContext(ctx, q, &Ping{}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("SendContext to a work queue: %v, want %v", err, ErrInvalidArgument)
	}
}
