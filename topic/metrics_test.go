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
