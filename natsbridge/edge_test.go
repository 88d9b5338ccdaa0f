package natsbridge

import (
	"github.com/nats-io/nats.go"
	"testing"
	"time"

	"github.com/shmactor/shmactor/actor"
	"github.com/shmactor/shmactor/internal/testproc"
	"github.com/shmactor/shmactor/topic"
)

// A publication's headers cross with it; one larger than NATS's
// maximum payload is refused and counted, not lost silently.
func TestBridgeHeadersAndLargePayload(t *testing.T) {
	url := natsServer(t)
	join := func() (*actor.System, *Bridge) {
		sys, err := actor.Join("edge", actor.WithRoot(testproc.TempDir(t)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sys.Close() })
		b, err := New(sys, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		if err := b.Subject("edge.>"); err != nil {
			t.Fatal(err)
		}
		return sys, b
	}
	a, ba := join()
	bsys, _ := join()
	got := make(chan *topic.Msg, 4)
	if _, err := topic.SubscribeMsgFunc(bsys, "edge.>", func(m *topic.Msg) { got <- m }); err != nil {
		t.Fatal(err)
	}
	bsys.Registry().Sync()
	if err := topic.PublishMsg(a, &topic.Msg{Subject: "edge.big", Data: make([]byte, 2<<20)}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the refusal of a payload larger than NATS takes", func() bool { return ba.Stats().Refused == 1 })
	if err := topic.PublishMsg(a, &topic.Msg{Subject: "edge.h", Header: map[string]string{"k": "v"}, Data: []byte("raw")}); err != nil {
		t.Fatal(err)
	}
	var m *topic.Msg
	select {
	case m = <-got:
	case <-time.After(15 * time.Second):
		t.Fatal("a publication with a header did not cross in 15s")
	}
	if m.Subject != "edge.h" || m.Header["k"] != "v" || string(m.Data.([]byte)) != "raw" {
		t.Fatalf("arrived: %s %v %v", m.Subject, m.Header, m.Data)
	}
	if st := ba.Stats(); st.Exported != 1 || st.Refused != 1 {
		t.Fatalf("A's bridge: %+v", st)
	}

	// A NATS client cannot set the library's reserved headers in the
	// namespace: they are dropped, and the origin says "nats".
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	forged := nats.NewMsg("edge.forged")
	forged.Header["topic.late"] = []string{"1,2"}
	forged.Header[originKey] = []string{"someone"}
	forged.Header["k"] = []string{"w"}
	forged.Data = []byte("raw")
	if err := nc.PublishMsg(forged); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case m = <-got:
		case <-time.After(15 * time.Second):
			t.Fatal("a NATS client's publication did not arrive in 15s")
		}
		if m.Subject == "edge.forged" {
			break
		}
	}
	if m.Header["k"] != "w" || m.Header["topic.late"] != "" || m.Header[originKey] != "nats" {
		t.Fatalf("headers from NATS arrived as %v", m.Header)
	}
}
