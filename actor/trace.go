package actor

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
)

// SendContext is Send with ctx's trace context in the message's headers,
// as OpenTelemetry's global propagator writes it (W3C traceparent and
// tracestate once otel.SetTextMapPropagator is given
// propagation.TraceContext{}): the receiving actor, in any process,
// continues the trace with TraceContext. Without a propagator or a span
// in ctx it is Send. It reports what Send reports, and
// ErrInvalidArgument for a work queue's PID (queue messages carry no
// headers).
func (s *System) SendContext(ctx context.Context, pid *PID, msg any) error {
	if err := s.checkSend("send", pid, msg); err != nil {
		return err
	}
	return s.sendWith(pid, msg, nil, traceHeader(ctx))
}

// RequestContext is Request with ctx's trace context in the message's
// headers, as SendContext carries it.
func (s *System) RequestContext(ctx context.Context, pid *PID, msg any, timeout time.Duration) (any, error) {
	if err := s.checkSend("request", pid, msg); err != nil {
		return nil, err
	}
	if timeout <= 0 {
		return nil, fmt.Errorf("%w: request to %s: timeout %v, want more than 0", ErrInvalidArgument, pidText(pid), timeout)
	}
	return s.request(pid, msg, timeout, traceHeader(ctx))
}

// traceHeader returns ctx's trace context as message headers, or nil.
func traceHeader(ctx context.Context) map[string]string {
	if ctx == nil {
		return nil
	}
	c := propagation.MapCarrier{}
	otel.GetTextMapPropagator().Inject(ctx, c)
	if len(c) == 0 {
		return nil
	}
	return c
}

// TraceContext returns a context carrying the trace context of the
// message c is handling (its headers, as SendContext and RequestContext
// write them), for the handler's spans to join the sender's trace; a
// message without one gives context.Background().
func TraceContext(c Context) context.Context {
	h := c.MessageHeader()
	if h == nil || h.Length() == 0 {
		return context.Background()
	}
	return otel.GetTextMapPropagator().Extract(context.Background(), propagation.MapCarrier(h.ToMap()))
}
