package actor

import (
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/shmactor/shmactor/internal/testproc"
	"github.com/shmactor/shmactor/internal/wire/wiretest"
)

// Message types users sent that arrived changed, or not at all. Each now
// either crosses to another process and back (the mirror answers every
// message with itself) as it was sent, or is refused when it is
// registered, with the field and the reason, and never sent.
type (
	Account  struct{ Balance int64 }
	Customer struct {
		*Account // nil: no account yet
		Name     string
	}
	Inner      struct{ N int }
	WithSecret struct {
		Name   string
		secret string
	}
	WithAny  struct{ V any }
	WithFunc struct{ OnDone func() }
	// Invite carries PIDs, protobuf messages, inside a msgpack struct.
	Invite struct {
		Who    *PID
		Guests []*PID
		Room   string
	}
	// Cached leaves its cache behind on purpose.
	Cached struct {
		Name  string
		cache map[string]int `msgpack:"-"`
	}
)

func init() {
	for _, err := range []error{RegisterMessage[*Customer](), RegisterMessage[*Cached](), RegisterMessage[*Invite](), RegisterMessage[*structpb.Value]()} {
		if err != nil {
			panic(err)
		}
	}
}

// mirror starts a process serving "mirror" in a new namespace and returns
// a System of this process joined to it and the mirror's PID.
func mirror(t *testing.T, ns string) (*System, *PID) {
	t.Helper()
	root := testproc.TempDir(t)
	p := testproc.Start(t, "mirror-node", env(root, ns)...)
	p.Expect(t, "ready", time.Minute)
	s := joinT(t, root, ns)
	pid := mustLookup(t, s, "mirror")
	if pid.Address == s.NodeAddress(s.NodeID()) {
		t.Fatal("the mirror is in this process: nothing would be encoded")
	}
	return s, pid
}

func TestValuesCrossAsSent(t *testing.T) {
	s, pid := mirror(t, "cross")
	nested, err := structpb.NewValue(map[string]any{"n": 1.5, "s": "x", "l": []any{true, nil, "y"}, "m": map[string]any{"deep": []any{}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		msg  any
	}{
		{"nil embedded pointer", &Customer{Name: "new"}},
		{"set embedded pointer", &Customer{Account: &Account{}, Name: "zero balance"}},
		{"field tagged -", &Cached{Name: "n", cache: map[string]int{"stays": 1}}},
		{"protobuf oneof", nested},
		{"protobuf scalar", structpb.NewNumberValue(-0.5)},
		{"PIDs in a struct", &Invite{Who: s.Root.Self(), Guests: []*PID{nil, NewPID("shm://x/1", "$7")}, Room: "r"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Request(pid, tc.msg, 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if d := wiretest.Diff(tc.msg, got); d != "" {
				t.Fatalf("%s\nsent %+v\n got %+v", d, tc.msg, got)
			}
		})
	}
	// The checks above, spelled out.
	got, _ := s.Request(pid, &Customer{Name: "new"}, 10*time.Second)
	if c, ok := got.(*Customer); !ok || c.Account != nil {
		t.Errorf("a nil embedded *Account arrived as %#v", got)
	}
	got, _ = s.Request(pid, nested, 10*time.Second)
	if v, ok := got.(*structpb.Value); !ok || !proto.Equal(v, nested) {
		t.Errorf("a structpb.Value arrived as %v", got)
	}
	if n := s.Stats().Undecodable; n != 0 {
		t.Errorf("%d answers could not be decoded", n)
	}
}

// A type that cannot make the trip does not register, and the error says
// which field and why; its values are refused at the sender, never sent.
func TestRefusedAtRegistration(t *testing.T) {
	s, pid := mirror(t, "refused")
	for _, tc := range []struct {
		name     string
		register func() error
		msg      any
		want     []string
	}{
		{"unexported field", RegisterMessage[*WithSecret], &WithSecret{secret: "s"}, []string{"field secret (string)", "unexported", "msgpack:\"-\""}},
		{"interface field", RegisterMessage[*WithAny], &WithAny{V: &Inner{5}}, []string{"field V (interface {})", "concrete type"}},
		{"channel field", RegisterMessage[*WithChan], &WithChan{C: make(chan int)}, []string{"field C (chan int)", "channel"}},
		{"function field", RegisterMessage[*WithFunc], &WithFunc{OnDone: func() {}}, []string{"field OnDone (func())", "function"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.register()
			if !errors.Is(err, ErrRegistration) {
				t.Fatalf("register: %v, want ErrRegistration", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q does not say %q", err, w)
				}
			}
			checkMessage(t, err)
			before := s.Stats().Queued
			sendErr := s.Send(pid, tc.msg)
			if !errors.Is(sendErr, ErrUnregistered) {
				t.Fatalf("send: %v, want ErrUnregistered", sendErr)
			}
			// The send says why the type is not registered.
			if !strings.Contains(sendErr.Error(), "refused") || !strings.Contains(sendErr.Error(), tc.want[0]) {
				t.Errorf("send error %q does not say the registration was refused and why", sendErr)
			}
			if s.Stats().Queued != before {
				t.Fatal("the message was sent")
			}
		})
	}
}
