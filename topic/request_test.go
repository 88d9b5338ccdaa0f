package topic

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/shmactor/shmactor/actor"
	"github.com/shmactor/shmactor/internal/testproc"
)

func init() { helpers["responder"] = helperResponder }

// helperResponder answers requests three ways: "fn.<x>" from a
// SubscribeMsgFunc handler, "actor.<x>" from an actor subscriber, and
// "group.<x>" from a queue group member. Each answer is a Note with Seq
// doubled and Text saying who answered and what header "x" was.
func helperResponder() error {
	s, err := helperJoin()
	if err != nil {
		return err
	}
	defer s.Close()
	if _, err := SubscribeMsgFunc(s, "fn.*", func(m *Msg) {
		n := m.Data.(*Note)
		m.Respond(&Note{Seq: 2 * n.Seq, Text: "fn " + m.Subject + " x=" + m.Header["x"]})
	}); err != nil {
		return err
	}
	pid := s.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if n, ok := ctx.Message().(*Note); ok {
			ctx.Respond(&Note{Seq: 2 * n.Seq, Text: "actor " + Subject(ctx) + " x=" + ctx.MessageHeader().Get("x")})
		}
	}))
	if _, err := Subscribe(s, "actor.*", pid); err != nil {
		return err
	}
	if _, err := QueueSubscribeMsgFunc(s, "group.*", "g", func(m *Msg) {
		n := m.Data.(*Note)
		m.Respond(&Note{Seq: 2 * n.Seq, Text: "group " + m.Subject + " x=" + m.Header["x"]})
	}); err != nil {
		return err
	}
	// A plain publication seen by a Msg handler: its headers, and no
	// reply address.
	if _, err := SubscribeMsgFunc(s, "note.*", func(m *Msg) {
		err := m.Respond(&Note{})
		say("note %s x=%s respond=%v", m.Subject, m.Header["x"], errors.Is(err, ErrNoReply))
	}); err != nil {
		return err
	}
	say("ready")
	commands(func(string, []string) {})
	return nil
}

// Request/reply on subjects across processes, answered by a function
// (Msg.Respond), an actor (ctx.Respond) and a queue group member; headers
// travel with the publication; nobody subscribing fails at once.
func TestRequestReplyAcrossProcesses(t *testing.T) {
	root := testproc.TempDir(t)
	p := testproc.Start(t, "responder", env(root, "rr")...)
	p.Expect(t, "ready", 20*time.Second)
	s := joinT(t, root, "rr")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, kind := range []string{"fn", "actor", "group"} {
		t.Run(kind, func(t *testing.T) {
			for i := range 20 {
				subject := fmt.Sprintf("%s.q%d", kind, i%3)
				res, err := Request(ctx, s, subject, &Note{Seq: i})
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				n, ok := res.(*Note)
				if want := kind + " " + subject + " x="; !ok || n.Seq != 2*i || n.Text != want {
					t.Fatalf("request %d: %+v, want Seq %d Text %q", i, res, 2*i, want)
				}
			}
		})
	}
	t.Run("no responders", func(t *testing.T) {
		_, err := Request(ctx, s, "nobody.home", &Note{Seq: 1})
		if !errors.Is(err, ErrNoResponders) {
			t.Fatalf("request to nobody: %v, want ErrNoResponders", err)
		}
		if ctx.Err() != nil {
			t.Fatal("it waited out its context")
		}
	})
	t.Run("headers", func(t *testing.T) {
		if err := PublishMsg(s, &Msg{Subject: "note.a", Data: &Note{}, Header: map[string]string{"x": "42"}}); err != nil {
			t.Fatal(err)
		}
		if got := p.Expect(t, "note", 10*time.Second); got != "note.a x=42 respond=true" {
			t.Fatalf("subscriber saw %q", got)
		}
		err := PublishMsg(s, &Msg{Subject: "note.a", Data: &Note{}, Header: map[string]string{"topic.subject": "forged"}})
		if !errors.Is(err, ErrInvalidArgument) {
			t.Fatalf("reserved header: %v, want ErrInvalidArgument", err)
		}
	})
	t.Run("expired context", func(t *testing.T) {
		c, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := Request(c, s, "fn.q0", &Note{}); !errors.Is(err, context.Canceled) {
			t.Fatalf("request with a cancelled context: %v", err)
		}
	})
}
