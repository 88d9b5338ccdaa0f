package actor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	proto "github.com/asynkron/protoactor-go/actor"

	"github.com/shmactor/shmactor/mailbox"
	"github.com/shmactor/shmactor/registry"
	"github.com/shmactor/shmactor/shm"
)

// Kinds: a process offers kinds of actor (a name and the Props to make
// one), and any process of the namespace spawns actors of a kind on a
// node that offers it. A node offering a kind holds the shared registry
// name "kind/<kind>", whose target is its spawner actor: the request to
// spawn goes to that actor, which spawns and answers with the PID or the
// reason it could not.

// ErrNoKind is returned by SpawnKind when no node (or not the node asked
// for) offers the kind.
var ErrNoKind = errors.New("shmactor: no node offers that kind")

const kindPrefix = "kind/"

// spawnKind asks a node's spawner for an actor of a kind.
type spawnKind struct {
	Kind, Name string
	// LinkAddress and LinkID name the actor the new one is linked to
	// (LinkedTo): when it terminates, the new one is stopped.
	LinkAddress, LinkID string
	// SupAddress and SupID name the stand-in of a supervised actor
	// (SupervisedBy): the new actor's failures are reported to it.
	SupAddress, SupID string
}

// spawnedKind is the spawner's answer: the PID, or what went wrong
// (Code: 1 no such kind here, 2 the name is taken, 3 other).
type spawnedKind struct {
	Address, ID string
	Code        uint8
	Err         string
}

func init() {
	for _, err := range []error{
		RegisterMessageName[*spawnKind]("shmactor.spawnKind"),
		RegisterMessageName[*spawnedKind]("shmactor.spawnedKind"),
	} {
		if err != nil {
			panic(err)
		}
	}
}

// kinds is a System's offered kinds and its spawner.
type kinds struct {
	mu      sync.Mutex
	props   map[string]*Props
	spawner *PID
	next    int // round robin among equally loaded nodes
	// links are the actors spawned LinkedTo an actor, by its
	// "address/id": stopped when it terminates.
	links map[string][]*PID
	// supervised are the actors spawned SupervisedBy a parent in
	// another process, by id: the stand-in their failures go to.
	supervised map[string]*PID
	// guarded spawns actors whose failures go to their stand-in.
	guarded *proto.RootContext
}

// RegisterKind offers kind in this process: any process of the
// namespace may then spawn an actor of it here with SpawnKind, made from
// props (spawned from the System's root, so not a child of the caller's).
// A kind is 1 to 200 bytes of the registry's name characters; offering
// one twice makes ErrInvalidArgument, and nil Props as well.
func (s *System) RegisterKind(kind string, props *Props) error {
	if props == nil {
		return fmt.Errorf("%w: register kind %q: nil Props", ErrInvalidArgument, kind)
	}
	if err := registry.ValidName(kindPrefix + kind); err != nil || kind == "" || strings.Contains(kind, "/") {
		return fmt.Errorf("%w: register kind %q: not a valid kind name", ErrInvalidArgument, kind)
	}
	if s.closed.Load() {
		return fmt.Errorf("%w: register kind %q", ErrClosed, kind)
	}
	k := &s.kinds
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.props[kind] != nil {
		return fmt.Errorf("%w: register kind %q: already offered", ErrInvalidArgument, kind)
	}
	if k.spawner == nil {
		k.spawner = s.Root.Spawn(proto.PropsFromFunc(s.spawnerReceive))
		if k.props == nil {
			k.props = map[string]*Props{}
		}
	}
	if err := s.reg.Subscribe(kindPrefix+kind, k.spawner.Id); err != nil {
		return fmt.Errorf("shmactor: register kind %q: %w", kind, err)
	}
	k.props[kind] = props
	return nil
}

// spawnerReceive spawns actors of the kinds this node offers.
func (s *System) spawnerReceive(ctx proto.Context) {
	if t, ok := ctx.Message().(*proto.Terminated); ok {
		// A linked actor terminated (its process killed included, once
		// its node is reaped): stop what was linked to it, as an Erlang
		// link does.
		key := t.Who.Address + "/" + t.Who.Id
		s.kinds.mu.Lock()
		if t.Who.Address == s.addr {
			delete(s.kinds.supervised, t.Who.Id)
		}
		linked := s.kinds.links[key]
		delete(s.kinds.links, key)
		s.kinds.mu.Unlock()
		for _, pid := range linked {
			s.Root.Stop(pid)
		}
		return
	}
	m, ok := ctx.Message().(*spawnKind)
	if !ok {
		return
	}
	s.kinds.mu.Lock()
	props := s.kinds.props[m.Kind]
	s.kinds.mu.Unlock()
	if props == nil {
		ctx.Respond(&spawnedKind{Code: 1, Err: fmt.Sprintf("node %016x does not offer kind %q", s.id, m.Kind)})
		return
	}
	pid, err := s.spawnOfKind(ctx, props, m)
	switch {
	case errors.Is(err, registry.ErrNameTaken), errors.Is(err, proto.ErrNameExists):
		ctx.Respond(&spawnedKind{Code: 2, Err: err.Error()})
	case err != nil:
		ctx.Respond(&spawnedKind{Code: 3, Err: err.Error()})
	default:
		if m.LinkID != "" {
			link := proto.NewPID(m.LinkAddress, m.LinkID)
			key := link.Address + "/" + link.Id
			s.kinds.mu.Lock()
			if s.kinds.links == nil {
				s.kinds.links = map[string][]*PID{}
			}
			first := len(s.kinds.links[key]) == 0
			s.kinds.links[key] = append(s.kinds.links[key], pid)
			s.kinds.mu.Unlock()
			if first {
				ctx.Watch(link)
			}
		}
		if pid.Address == localAddress {
			pid = proto.NewPID(s.addr, pid.Id)
		}
		ctx.Respond(&spawnedKind{Address: pid.Address, ID: pid.Id})
	}
}

// spawnOfKind spawns what m asks for, from Root or SpawnNamed, or, for
// an actor supervised from another process, from the guardian that
// reports its failures to its stand-in there.
func (s *System) spawnOfKind(ctx proto.Context, props *Props, m *spawnKind) (*PID, error) {
	if m.SupID == "" {
		if m.Name != "" {
			return s.SpawnNamed(props, m.Name)
		}
		if pid := s.Root.Spawn(props); pid != nil {
			return pid, nil
		}
		return nil, ErrClosed
	}
	k := &s.kinds
	id := m.Name
	if id == "" {
		id = s.ProcessRegistry.NextId()
	}
	if _, ok := s.ProcessRegistry.GetLocal(id); ok {
		// Taken here: the actor that has it keeps its stand-in.
		return nil, fmt.Errorf("shmactor: spawn %q: %w", id, proto.ErrNameExists)
	}
	standIn := proto.NewPID(m.SupAddress, m.SupID)
	k.mu.Lock()
	if k.guarded == nil {
		g := &failureForwarder{sys: s}
		k.guarded = s.Root.Copy().WithGuardian(g)
		k.supervised = map[string]*PID{}
	}
	// Known before the actor starts, so that a panic in its Started is
	// reported too.
	k.supervised[id] = standIn
	guarded := k.guarded
	k.mu.Unlock()
	pid, err := guarded.SpawnNamed(props, id) // a name: as SpawnNamed does
	if err != nil {
		k.mu.Lock()
		if k.supervised[id] == standIn {
			delete(k.supervised, id)
		}
		k.mu.Unlock()
		return nil, err
	}
	ctx.Watch(pid) // to forget it when it stops
	return pid, nil
}

// SpawnOption chooses where and how SpawnKind spawns.
type SpawnOption func(*spawnOptions)

type spawnOptions struct {
	node   uint64
	name   string
	link   *PID
	parent Context // SupervisedBy
	// sup is the stand-in of a supervised actor (internal).
	sup *PID
}

// LinkedTo links the new actor to pid: when pid's actor terminates —
// its process killed with kill -9 included, once its node is reaped —
// the new actor is stopped, so that a parent that dies leaves no orphan
// behind in other processes.
func LinkedTo(pid *PID) SpawnOption { return func(o *spawnOptions) { o.link = pid } }

// OnNode spawns on the node given (an id, as NodeID returns it); without
// it SpawnKind picks a node.
func OnNode(node uint64) SpawnOption { return func(o *spawnOptions) { o.node = node } }

// Named spawns the actor under name, registered in the namespace as
// SpawnNamed does.
func Named(name string) SpawnOption { return func(o *spawnOptions) { o.name = name } }

// SpawnKind spawns an actor of kind on a node that offers it
// (RegisterKind) and returns its PID once it exists, or fails by ctx's
// deadline. Without OnNode it picks the node with the fewest messages
// waiting in its inbox (read from shared memory: the least busy right
// now), the first in turn among equals, so that spawns spread over idle
// nodes. It fails with ErrNoKind when no node offers kind (or the one
// asked for does not), registry.ErrNameTaken when Named's name is held,
// mailbox.ErrNodeGone when the node is gone, ErrInvalidArgument for a
// nil Context, and ctx's error when it ends first.
func (s *System) SpawnKind(ctx context.Context, kind string, opts ...SpawnOption) (*PID, error) {
	if ctx == nil {
		return nil, fmt.Errorf("%w: spawn kind %q: nil Context", ErrInvalidArgument, kind)
	}
	var o spawnOptions
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if o.link != nil && o.link.Address == localAddress {
		o.link = proto.NewPID(s.addr, o.link.Id) // as other nodes reach it
	}
	if o.parent != nil {
		return s.spawnSupervised(ctx, kind, o)
	}
	return s.spawnKind(ctx, kind, o)
}

// spawnKind is SpawnKind once its options are read.
func (s *System) spawnKind(ctx context.Context, kind string, o spawnOptions) (*PID, error) {
	if err := s.checkSpawn(PropsFromFunc(func(Context) {}), o.name); err != nil {
		return nil, err
	}
	if o.name != "" {
		if err := registry.ValidName(o.name); err != nil {
			return nil, fmt.Errorf("shmactor: spawn kind %q named %q: %w", kind, o.name, err)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.reg.Sync()
	offers := s.reg.Holders(kindPrefix + kind)
	var target *registry.Entry
	switch {
	case o.node != 0:
		for i := range offers {
			if offers[i].Node == o.node {
				target = &offers[i]
			}
		}
	case len(offers) > 0:
		target = s.leastLoaded(offers)
	}
	if target == nil {
		where := "any node"
		if o.node != 0 {
			where = fmt.Sprintf("node %016x", o.node)
		}
		return nil, &userError{msg: fmt.Sprintf("shmactor: spawn kind %q: %s of namespace %q does not offer it", kind, where, s.ns), err: ErrNoKind}
	}
	// The request outlives ctx by a grace period: an answer that comes
	// after ctx ended still arrives, and the actor it names is stopped,
	// not left running unknown to anyone.
	timeout := 10 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		if time.Until(dl) <= 0 {
			// ctx.Err may still be nil for a moment past the deadline.
			return nil, context.DeadlineExceeded
		}
		timeout += time.Until(dl)
	}
	type answer struct {
		v   any
		err error
	}
	done := make(chan answer, 1)
	go func() {
		v, err := s.Request(proto.NewPID(s.NodeAddress(target.Node), target.Target), spawnRequest(kind, o), timeout)
		done <- answer{v, err}
	}()
	var a answer
	select {
	case a = <-done:
	case <-ctx.Done():
		go func() {
			if a := <-done; a.err == nil {
				if r, ok := a.v.(*spawnedKind); ok && r.Code == 0 {
					s.Root.Stop(proto.NewPID(r.Address, r.ID))
				}
			}
		}()
		return nil, ctx.Err()
	}
	if errors.Is(a.err, proto.ErrDeadLetter) && !errors.Is(a.err, mailbox.ErrNodeGone) {
		// The node died with the request in its inbox.
		return nil, fmt.Errorf("shmactor: spawn kind %q: %w: node %016x", kind, mailbox.ErrNodeGone, target.Node)
	}
	if a.err != nil {
		return nil, fmt.Errorf("shmactor: spawn kind %q on node %016x: %w", kind, target.Node, a.err)
	}
	r, ok := a.v.(*spawnedKind)
	if !ok {
		return nil, fmt.Errorf("shmactor: spawn kind %q on node %016x: answered %T", kind, target.Node, a.v)
	}
	switch r.Code {
	case 0:
		return proto.NewPID(r.Address, r.ID), nil
	case 1:
		return nil, &userError{msg: "shmactor: spawn kind " + fmt.Sprintf("%q: ", kind) + r.Err, err: ErrNoKind}
	case 2:
		return nil, &userError{msg: "shmactor: spawn kind " + fmt.Sprintf("%q: ", kind) + r.Err, err: registry.ErrNameTaken}
	}
	return nil, fmt.Errorf("shmactor: spawn kind %q on node %016x: %s", kind, target.Node, r.Err)
}

// spawnRequest is the spawner's request for o.
func spawnRequest(kind string, o spawnOptions) *spawnKind {
	r := &spawnKind{Kind: kind, Name: o.name}
	if o.link != nil {
		r.LinkAddress, r.LinkID = o.link.Address, o.link.Id
	}
	if o.sup != nil {
		r.SupAddress, r.SupID = o.sup.Address, o.sup.Id
	}
	return r
}

// leastLoaded picks, among the nodes offering a kind, the one with the
// fewest records in its inbox, taking turns among equals.
func (s *System) leastLoaded(offers []registry.Entry) *registry.Entry {
	best, bestLen := -1, 0
	s.kinds.mu.Lock()
	start := s.kinds.next
	s.kinds.next++
	s.kinds.mu.Unlock()
	for j := range offers {
		i := (start + j) % len(offers)
		n, err := s.reg.Node(offers[i].Node)
		if err != nil {
			continue
		}
		st, err := shm.ReadRingStats(s.reg.Dir(), n.Inbox)
		if err != nil {
			continue
		}
		if best < 0 || st.Len < bestLen {
			best, bestLen = i, st.Len
		}
	}
	if best < 0 {
		best = start % len(offers)
	}
	return &offers[best]
}
