package actor

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// WithMeterProvider exports the System's counters as OpenTelemetry
// metrics through mp (meter "github.com/shmactor/shmactor"), and switches
// protoactor-go's own actor metrics on (spawns, stops, message
// durations, mailbox lengths): protoactor-go records those through
// OpenTelemetry's global provider, so call otel.SetMeterProvider(mp) as
// well to have them in mp. The
// counters are the ones Stats returns, observed when mp's reader
// collects, so sending costs nothing more:
//
//	shmactor.messages.queued, .sent, .received      messages (counters)
//	shmactor.messages.full, .dropped, .failed       sends refused or lost (counters)
//	shmactor.messages.undecodable, .dead_lettered, .undeliverable
//	shmactor.frames.rejected                        frames malformed or failing to open
//	shmactor.pump.handoffs                          slow handlers that moved the inbox pump
//	shmactor.inbox.depth                            records waiting in the inbox (gauge)
//
// each with the attributes shmactor.namespace and shmactor.node (the
// node id in hex). Package topic adds its own (see topic.StatsOf). Off
// by default: without this option no instrument exists.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(o *options) error {
		if mp == nil {
			return fmt.Errorf("%w: WithMeterProvider: nil provider", ErrInvalidOption)
		}
		o.meter = mp
		return nil
	}
}

// MeterProvider returns the provider given WithMeterProvider, or nil:
// for layers built on the System to register their own instruments.
func (s *System) MeterProvider() metric.MeterProvider { return s.meter }

// MetricAttributes returns the attributes every instrument of the System
// carries: its namespace and node.
func (s *System) MetricAttributes() []attribute.KeyValue {
	return []attribute.KeyValue{
		attribute.String("shmactor.namespace", s.ns),
		attribute.String("shmactor.node", fmt.Sprintf("%016x", s.id)),
	}
}

// registerMetrics creates the System's instruments and the callback that
// observes them; the returned function unregisters it.
func (s *System) registerMetrics(mp metric.MeterProvider) (func(), error) {
	m := mp.Meter("github.com/shmactor/shmactor")
	counters := []struct {
		name, desc string
		of         func(Stats) uint64
	}{
		{"shmactor.messages.queued", "messages accepted by a send, for the node's writer to push", func(st Stats) uint64 { return st.Queued }},
		{"shmactor.messages.sent", "messages pushed to other nodes' inboxes", func(st Stats) uint64 { return st.Sent }},
		{"shmactor.messages.received", "messages taken from this node's inbox", func(st Stats) uint64 { return st.Received }},
		{"shmactor.messages.full", "sends that failed because an inbox stayed full", func(st Stats) uint64 { return st.Full }},
		{"shmactor.messages.dropped", "sends dropped under the DropNewest policy", func(st Stats) uint64 { return st.Dropped }},
		{"shmactor.messages.failed", "messages not delivered: the node died, the System closed", func(st Stats) uint64 { return st.Failed }},
		{"shmactor.messages.undecodable", "messages received that did not decode", func(st Stats) uint64 { return st.Undecodable }},
		{"shmactor.messages.dead_lettered", "messages that reached this node and became dead letters", func(st Stats) uint64 { return st.DeadLettered }},
		{"shmactor.messages.undeliverable", "messages this node could not send", func(st Stats) uint64 { return st.Undeliverable }},
		{"shmactor.frames.rejected", "frames rejected: malformed, or failing to open", func(st Stats) uint64 { return st.Rejected }},
		{"shmactor.pump.handoffs", "handler calls slow enough that the inbox pump moved", func(st Stats) uint64 { return st.HandOffs }},
	}
	var obs []metric.Observable
	insts := make([]metric.Int64ObservableCounter, len(counters))
	for i, c := range counters {
		inst, err := m.Int64ObservableCounter(c.name, metric.WithDescription(c.desc), metric.WithUnit("{message}"))
		if err != nil {
			return nil, err
		}
		insts[i] = inst
		obs = append(obs, inst)
	}
	depth, err := m.Int64ObservableGauge("shmactor.inbox.depth", metric.WithDescription("records waiting in this node's inbox"), metric.WithUnit("{record}"))
	if err != nil {
		return nil, err
	}
	obs = append(obs, depth)
	attrs := metric.WithAttributes(s.MetricAttributes()...)
	reg, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		if s.closed.Load() {
			return nil
		}
		st := s.Stats()
		for i, c := range counters {
			o.ObserveInt64(insts[i], int64(c.of(st)), attrs)
		}
		o.ObserveInt64(depth, int64(st.Inbox.Len), attrs)
		return nil
	}, obs...)
	if err != nil {
		return nil, err
	}
	return func() { reg.Unregister() }, nil
}
