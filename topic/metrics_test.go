package topic

import (
	"context"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/shmactor/shmactor/actor"
	"github.com/shmactor/shmactor/internal/testproc"
)

// With a meter provider, a node's publication counters and each
// subscription's deliveries are observed, the latter by pattern.
func TestTopicMetrics(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	root := testproc.TempDir(t)
	a := joinT(t, root, "tmetrics", actor.WithMeterProvider(mp))
	b := joinT(t, root, "tmetrics", actor.WithMeterProvider(mp))
	c := newCollector(10)
	if _, err := SubscribeFunc(b, "news.*", c.fn); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		if err := Publish(a, "news.x", &Note{Text: "n"}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 10; i++ {
		c.next(t)
	}
	var rm metricdata.ResourceMetrics
	deadline := time.Now().Add(5 * time.Second)
	var published, delivered int64
	for published < 10 || delivered < 10 {
		if time.Now().After(deadline) {
			t.Fatalf("published %d, delivered %d", published, delivered)
		}
		if err := reader.Collect(context.Background(), &rm); err != nil {
			t.Fatal(err)
		}
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				sum, ok := m.Data.(metricdata.Sum[int64])
				if !ok {
					continue
				}
				for _, p := range sum.DataPoints {
					switch m.Name {
					case "topic.published":
						published = max(published, p.Value)
					case "topic.subscription.delivered":
						if v, ok := p.Attributes.Value("topic.pattern"); ok && v.AsString() == "news.*" {
							delivered = p.Value
						}
					}
				}
			}
		}
	}
}

// Two subscriptions of a node with the same pattern (and no group) share
// their attributes: what they observe is their sum, not one of them.
func TestTopicMetricsSamePattern(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	s := joinT(t, testproc.TempDir(t), "tmetricsdup", actor.WithMeterProvider(mp))
	c1, c2 := newCollector(10), newCollector(10)
	if _, err := SubscribeFunc(s, "dup.*", c1.fn); err != nil {
		t.Fatal(err)
	}
	if _, err := SubscribeFunc(s, "dup.*", c2.fn); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if err := Publish(s, "dup.x", &Note{Text: "n"}); err != nil {
			t.Fatal(err)
		}
	}
	for range 5 {
		c1.next(t)
		c2.next(t)
	}
	var rm metricdata.ResourceMetrics
	deadline := time.Now().Add(5 * time.Second)
	for {
		if err := reader.Collect(context.Background(), &rm); err != nil {
			t.Fatal(err)
		}
		var delivered int64
		points := 0
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				if sum, ok := m.Data.(metricdata.Sum[int64]); ok && m.Name == "topic.subscription.delivered" {
					for _, p := range sum.DataPoints {
						if v, ok := p.Attributes.Value("topic.pattern"); ok && v.AsString() == "dup.*" {
							delivered += p.Value
							points++
						}
					}
				}
			}
		}
		if delivered == 10 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("topic.subscription.delivered for dup.*: %d in %d points, want 10", delivered, points)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The pending gauge of two subscriptions with the same pattern is what
// both hold, not what one does.
func TestTopicMetricsSamePatternPending(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	s := joinT(t, testproc.TempDir(t), "tmetricspend", actor.WithMeterProvider(mp))
	release := make(chan struct{})
	defer close(release)
	var subs []*Subscription
	for range 2 {
		sub, err := SubscribeFunc(s, "held.*", func(string, any) { <-release })
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, sub)
	}
	for range 4 {
		if err := Publish(s, "held.x", &Note{Text: "n"}); err != nil {
			t.Fatal(err)
		}
	}
	var rm metricdata.ResourceMetrics
	deadline := time.Now().Add(5 * time.Second)
	for {
		want := int64(subs[0].Stats().Pending + subs[1].Stats().Pending)
		if err := reader.Collect(context.Background(), &rm); err != nil {
			t.Fatal(err)
		}
		var pending int64
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				if g, ok := m.Data.(metricdata.Gauge[int64]); ok && m.Name == "topic.subscription.pending" {
					for _, p := range g.DataPoints {
						if v, ok := p.Attributes.Value("topic.pattern"); ok && v.AsString() == "held.*" {
							pending += p.Value
						}
					}
				}
			}
		}
		again := int64(subs[0].Stats().Pending + subs[1].Stats().Pending)
		if want == again && want >= 4 {
			if pending != want {
				t.Fatalf("topic.subscription.pending for held.*: %d, the subscriptions hold %d", pending, want)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the subscriptions never settled: %d pending", again)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A pattern's delivered counter keeps what a subscription delivered
// after it ends: counters never go down.
func TestTopicMetricsAfterUnsubscribe(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	a := joinT(t, testproc.TempDir(t), "tmetrics2", actor.WithMeterProvider(mp))
	c := newCollector(5)
	sub, err := SubscribeFunc(a, "ended.*", c.fn)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if err := Publish(a, "ended.x", &Note{Text: "n"}); err != nil {
			t.Fatal(err)
		}
		c.next(t)
	}
	if err := sub.Unsubscribe(); err != nil {
		t.Fatal(err)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	var delivered int64 = -1
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if sum, ok := m.Data.(metricdata.Sum[int64]); ok && m.Name == "topic.subscription.delivered" {
				for _, p := range sum.DataPoints {
					if v, ok := p.Attributes.Value("topic.pattern"); ok && v.AsString() == "ended.*" {
						delivered = p.Value
					}
				}
			}
		}
	}
	if delivered != 5 {
		t.Fatalf("delivered for the ended subscription's pattern: %d, want 5", delivered)
	}
}
