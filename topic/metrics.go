package topic

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// registerMetrics creates the engine's OpenTelemetry instruments when
// its System has a meter provider (actor.WithMeterProvider): the node's
// publication counters (NodeStats) and, per subscription, its deliveries,
// drops and pending publications, with the attributes topic.pattern and
// topic.group. It returns the function that unregisters them, or nil.
func (e *engine) registerMetrics() func() {
	mp := e.sys.MeterProvider()
	if mp == nil {
		return nil
	}
	m := mp.Meter("github.com/shmactor/shmactor/topic")
	node := []struct {
		name, desc string
		of         func(NodeStats) uint64
	}{
		{"topic.published", "Publish calls with a valid subject", func(s NodeStats) uint64 { return s.Published }},
		{"topic.sent", "envelopes queued for other nodes and queue groups", func(s NodeStats) uint64 { return s.Sent }},
		{"topic.dropped", "publications dropped for slow consumers", func(s NodeStats) uint64 { return s.Dropped }},
		{"topic.waited", "publications held back by a paused subscription of another node", func(s NodeStats) uint64 { return s.Waited }},
		{"topic.undelivered", "publications for nodes that were gone, or not encodable", func(s NodeStats) uint64 { return s.Undelivered }},
		{"topic.unrouted", "publications received for subscriptions that had just ended", func(s NodeStats) uint64 { return s.Unrouted }},
		{"topic.rejected", "publications received with a bad subject or payload", func(s NodeStats) uint64 { return s.Rejected }},
	}
	var obs []metric.Observable
	insts := make([]metric.Int64ObservableCounter, len(node))
	for i, c := range node {
		inst, err := m.Int64ObservableCounter(c.name, metric.WithDescription(c.desc), metric.WithUnit("{publication}"))
		if err != nil {
			return nil
		}
		insts[i] = inst
		obs = append(obs, inst)
	}
	delivered, err1 := m.Int64ObservableCounter("topic.subscription.delivered", metric.WithDescription("publications handed to a subscriber"), metric.WithUnit("{publication}"))
	dropped, err2 := m.Int64ObservableCounter("topic.subscription.dropped", metric.WithDescription("publications a subscription dropped as a slow consumer"), metric.WithUnit("{publication}"))
	pending, err3 := m.Int64ObservableGauge("topic.subscription.pending", metric.WithDescription("publications waiting for a subscriber"), metric.WithUnit("{publication}"))
	if err1 != nil || err2 != nil || err3 != nil {
		return nil
	}
	obs = append(obs, delivered, dropped, pending)
	base := e.sys.MetricAttributes()
	nodeAttrs := metric.WithAttributes(base...)
	reg, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		st := NodeStats{
			Published: e.published.Load(), Sent: e.sent.Load(), Dropped: e.dropped.Load(), Waited: e.waited.Load(),
			Undelivered: e.undelivered.Load(), Unrouted: e.unrouted.Load(), Rejected: e.rejected.Load(),
		}
		for i, c := range node {
			o.ObserveInt64(insts[i], int64(c.of(st)), nodeAttrs)
		}
		e.mu.Lock()
		subs := make([]*Subscription, 0, len(e.subs))
		for s := range e.subs {
			subs = append(subs, s)
		}
		type key struct{ pattern, group string }
		type sums struct{ delivered, dropped, pending int64 }
		var order []key
		by := map[key]*sums{}
		// Subscriptions that ended still count: a counter never goes down.
		for k, st := range e.ended {
			kk := key{k[0], k[1]}
			by[kk] = &sums{delivered: int64(st.Delivered), dropped: int64(st.Dropped)}
			order = append(order, kk)
		}
		e.mu.Unlock()
		// Subscriptions with the same pattern and group share attributes:
		// observe their sum once (a gauge observed twice keeps the last).
		for _, s := range subs {
			k := key{s.pattern, s.group}
			v := by[k]
			if v == nil {
				v = &sums{}
				by[k] = v
				order = append(order, k)
			}
			ss := s.Stats()
			v.delivered += int64(ss.Delivered)
			v.dropped += int64(ss.Dropped)
			v.pending += int64(ss.Pending)
		}
		for _, k := range order {
			v := by[k]
			attrs := metric.WithAttributes(append(base[:len(base):len(base)], attribute.String("topic.pattern", k.pattern), attribute.String("topic.group", k.group))...)
			o.ObserveInt64(delivered, v.delivered, attrs)
			o.ObserveInt64(dropped, v.dropped, attrs)
			o.ObserveInt64(pending, v.pending, attrs)
		}
		return nil
	}, obs...)
	if err != nil {
		return nil
	}
	return func() { reg.Unregister() }
}
