package natsbridge

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats.go"

	"github.com/shmactor/shmactor/actor"
	"github.com/shmactor/shmactor/internal/topicx"
	"github.com/shmactor/shmactor/internal/wire"
	"github.com/shmactor/shmactor/registry"
	"github.com/shmactor/shmactor/topic"
)

// Errors.
var (
	// ErrBridged is returned by New when the namespace has a bridge
	// already.
	ErrBridged = errors.New("natsbridge: the namespace has a bridge already")
	// ErrInvalidArgument is returned for a nil System, a bad pattern or
	// group.
	ErrInvalidArgument = errors.New("natsbridge: invalid argument")
	// ErrClosed is returned by a closed Bridge.
	ErrClosed = errors.New("natsbridge: closed")
)

// registryName is the name a namespace's bridge holds.
const registryName = "natsbridge"

// NATS headers between bridges.
const (
	hdrOrigin = "Shmactor-Origin" // the exporting bridge's id
	hdrType   = "Shmactor-Type"   // "" []byte, "string", or a registered name
	hdrServed = "Shmactor-Served" // queue groups the exporter's namespace delivered to
)

// originKey marks a publication brought in from NATS, in the namespace:
// a reserved key, so no publisher can forge it.
const originKey = "shmactor.bridge.origin"

// Stats are a bridge's counters.
type Stats struct {
	Exported uint64 // publications sent to NATS
	Imported uint64 // NATS messages published in the namespace
	// Refused counts what could not cross: a payload that cannot be
	// encoded for NATS (a Blob, a descriptor) or a NATS message whose
	// payload does not decode as its type header says; each is logged.
	Refused uint64
	// Unrouted counts NATS messages for a queue group that has no member
	// in the namespace any more; each is logged.
	Unrouted uint64
}

// Bridge carries publications between a namespace and NATS.
type Bridge struct {
	sys  *actor.System
	nc   *nats.Conn
	id   string
	encs sync.Pool // *wire.Encoder
	decs sync.Pool // *wire.Decoder

	mu     sync.Mutex
	closed bool
	local  []*topic.Subscription
	remote []*nats.Subscription
	groups map[string][]string // pattern → queue groups bridged

	exported, imported, refused, unrouted atomic.Uint64
}

// New connects to the NATS server at url (nats.Connect's URL, and its
// options: credentials, TLS) and starts a bridge for sys's namespace,
// which carries nothing until Subject or QueueGroup says what. It fails
// with ErrBridged when the namespace has a bridge already (in any of
// its processes), ErrInvalidArgument for a nil System, and with
// nats.Connect's error.
func New(sys *actor.System, url string, opts ...nats.Option) (*Bridge, error) {
	if sys == nil {
		return nil, fmt.Errorf("%w: nil System", ErrInvalidArgument)
	}
	var raw [8]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, err
	}
	b := &Bridge{sys: sys, id: hex.EncodeToString(raw[:]), groups: map[string][]string{}}
	b.encs.New = func() any { return wire.NewEncoder(wire.Default) }
	b.decs.New = func() any { return wire.NewDecoder(wire.Default) }
	if err := sys.Registry().Register(registryName, b.id); err != nil {
		if errors.Is(err, registry.ErrNameTaken) {
			return nil, fmt.Errorf("%w: namespace %q", ErrBridged, sys.Namespace())
		}
		return nil, fmt.Errorf("natsbridge: %w", err)
	}
	// The bridge's own publications must not come back to it: with no
	// echo, NATS never delivers them to this connection's subscriptions,
	// its queue subscriptions included.
	nc, err := nats.Connect(url, append(slices.Clone(opts), nats.NoEcho())...)
	if err != nil {
		sys.Registry().Unregister(registryName)
		return nil, fmt.Errorf("natsbridge: connect %s: %w", url, err)
	}
	b.nc = nc
	return b, nil
}

// Subject carries publications on subjects matching pattern (topic's
// syntax, which is NATS's: tokens, "*" and ">") both ways: every
// publication of the namespace to NATS once, and every NATS message to
// the namespace's plain subscribers once. (Its queue groups are bridged
// with QueueGroup.) A bad pattern makes an error wrapping
// topic.ErrInvalidSubject.
func (b *Bridge) Subject(pattern string) error {
	if err := topic.ValidPattern(pattern); err != nil {
		return fmt.Errorf("natsbridge: subject %q: %w", pattern, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	out, err := topic.SubscribeMsgFunc(b.sys, pattern, b.export)
	if err != nil {
		return fmt.Errorf("natsbridge: subject %q: %w", pattern, err)
	}
	in, err := b.nc.Subscribe(pattern, func(m *nats.Msg) { b.bringIn(m, "") })
	if err != nil {
		out.Unsubscribe()
		return fmt.Errorf("natsbridge: subject %q: %w", pattern, err)
	}
	b.local = append(b.local, out)
	b.remote = append(b.remote, in)
	return nil
}

// QueueGroup makes queue group group of pattern span the bridged
// namespaces: a publication goes to one member among them all (see the
// package's doc). Members subscribe in their namespace as usual
// (topic.QueueSubscribe). Publications on pattern reach NATS only if
// Subject bridges a pattern that covers them.
func (b *Bridge) QueueGroup(pattern, group string) error {
	if err := topic.ValidPattern(pattern); err != nil {
		return fmt.Errorf("natsbridge: queue group %q of %q: %w", group, pattern, err)
	}
	if err := topic.ValidGroup(group); err != nil {
		return fmt.Errorf("natsbridge: queue group %q of %q: %w", group, pattern, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	in, err := b.nc.QueueSubscribe(pattern, group, func(m *nats.Msg) { b.bringIn(m, group) })
	if err != nil {
		return fmt.Errorf("natsbridge: queue group %q of %q: %w", group, pattern, err)
	}
	b.remote = append(b.remote, in)
	b.groups[pattern] = append(b.groups[pattern], group)
	return nil
}

// Stats returns the bridge's counters.
func (b *Bridge) Stats() Stats {
	return Stats{Exported: b.exported.Load(), Imported: b.imported.Load(), Refused: b.refused.Load(), Unrouted: b.unrouted.Load()}
}

// Close stops carrying, drains the NATS connection (what was taken in is
// published first) and releases the namespace's bridge name. Calling it
// again returns nil.
func (b *Bridge) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	local := b.local
	b.mu.Unlock()
	for _, s := range local {
		s.Unsubscribe()
	}
	err := b.nc.Drain()
	if e := b.sys.Registry().Unregister(registryName); err == nil && e != nil && !errors.Is(e, registry.ErrNotFound) {
		err = e
	}
	return err
}

// export sends a publication of the namespace to NATS, unless it came
// from NATS.
func (b *Bridge) export(m *topic.Msg) {
	if m.Header[originKey] != "" {
		return
	}
	data, typ, err := b.encode(m.Data)
	if err != nil {
		b.refuse("natsbridge: a publication cannot cross to NATS", "subject", m.Subject, "err", err)
		return
	}
	out := nats.NewMsg(m.Subject)
	for k, v := range m.Header {
		if !reserved(k) {
			out.Header[k] = []string{v}
		}
	}
	out.Header[hdrOrigin] = []string{b.id}
	if typ != "" {
		out.Header[hdrType] = []string{typ}
	}
	if served := b.served(m.Subject); served != "" {
		out.Header[hdrServed] = []string{served}
	}
	out.Data = data
	if err := b.nc.PublishMsg(out); err != nil {
		b.refuse("natsbridge: publishing to NATS", "subject", m.Subject, "err", err)
		return
	}
	b.exported.Add(1)
}

// served lists the bridged queue groups that a publication on subject
// reached in the namespace.
func (b *Bridge) served(subject string) string {
	b.mu.Lock()
	var bridged []string
	for p, gs := range b.groups {
		if topic.Match(p, subject) {
			bridged = append(bridged, gs...)
		}
	}
	b.mu.Unlock()
	if len(bridged) == 0 {
		return ""
	}
	reached, err := topicx.Groups(b.sys, subject)
	if err != nil {
		return ""
	}
	var out []string
	for _, g := range reached {
		if slices.Contains(bridged, g) {
			out = append(out, g)
		}
	}
	return strings.Join(out, ",")
}

// bringIn publishes a NATS message in the namespace: to the plain
// subscribers, or (group set) to one member of the queue group unless
// the publisher's namespace served the group already.
func (b *Bridge) bringIn(m *nats.Msg, group string) {
	origin := m.Header.Get(hdrOrigin)
	if origin == b.id {
		return
	}
	if group != "" && slices.Contains(strings.Split(m.Header.Get(hdrServed), ","), group) {
		return
	}
	v, err := b.decode(m.Header.Get(hdrType), m.Data)
	if err != nil {
		b.refuse("natsbridge: a NATS message does not decode", "subject", m.Subject, "type", m.Header.Get(hdrType), "err", err)
		return
	}
	header := map[string]string{}
	for k, vs := range m.Header {
		if len(vs) > 0 && !reserved(k) {
			header[k] = vs[0]
		}
	}
	if origin == "" {
		origin = "nats"
	}
	header[originKey] = origin
	p := topicx.Publication{Subject: m.Subject, Data: v, Header: header, Group: group}
	if group != "" {
		reached, _ := topicx.Groups(b.sys, m.Subject)
		if !slices.Contains(reached, group) {
			b.unrouted.Add(1)
			b.sys.Logger().Warn("natsbridge: a NATS message for a queue group without members here was not delivered", "subject", m.Subject, "group", group)
			return
		}
	}
	if err := topicx.Publish(b.sys, p); err != nil {
		b.refuse("natsbridge: publishing a NATS message", "subject", m.Subject, "err", err)
		return
	}
	b.imported.Add(1)
}

// reserved reports whether a header key is the library's own (topic's,
// the System's, the bridges'): not carried either way, so that nothing
// from NATS can set them in the namespace.
func reserved(k string) bool {
	return strings.HasPrefix(k, "topic.") || strings.HasPrefix(k, "shmactor.") || strings.HasPrefix(k, "Shmactor-")
}

func (b *Bridge) refuse(msg string, args ...any) {
	b.refused.Add(1)
	b.sys.Logger().Warn(msg, args...)
}

// encode returns a payload's bytes for NATS and its type header.
func (b *Bridge) encode(v any) ([]byte, string, error) {
	switch x := v.(type) {
	case []byte:
		return x, "", nil
	case string:
		return []byte(x), "string", nil
	}
	name, err := wire.Default.NameOf(v)
	if err != nil {
		return nil, "", err
	}
	enc := b.encs.Get().(*wire.Encoder)
	defer b.encs.Put(enc)
	data, err := enc.AppendPayload(nil, v)
	if err != nil {
		return nil, "", err
	}
	if len(enc.Files) > 0 {
		clear(enc.Files)
		enc.Files = enc.Files[:0]
		return nil, "", fmt.Errorf("%w: %T carries an *os.File, which cannot leave the machine", ErrInvalidArgument, v)
	}
	return data, name, nil
}

// decode is encode's reverse, for bytes from NATS.
func (b *Bridge) decode(typ string, data []byte) (any, error) {
	switch typ {
	case "":
		return slices.Clone(data), nil
	case "string":
		return string(data), nil
	}
	dec := b.decs.Get().(*wire.Decoder)
	defer b.decs.Put(dec)
	return dec.Payload(typ, data)
}
