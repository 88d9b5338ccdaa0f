package actor

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	proto "github.com/asynkron/protoactor-go/actor"
	"go.opentelemetry.io/otel/metric"

	"github.com/shmactor/shmactor/internal/link"
	"github.com/shmactor/shmactor/internal/logx"
	"github.com/shmactor/shmactor/internal/seal"
	"github.com/shmactor/shmactor/internal/wire"
	"github.com/shmactor/shmactor/mailbox"
	"github.com/shmactor/shmactor/registry"
	"github.com/shmactor/shmactor/shm"
)

// System is a process's membership of a namespace: a protoactor-go actor
// system (embedded: Root, ProcessRegistry, EventStream... are its) whose
// PIDs reach actors in every process of the namespace through
// shared-memory inboxes.
//
// Names: an actor has a name other processes can Lookup only if it was
// spawned with [System.SpawnNamed]. Root.SpawnNamed, protoactor's own
// call, is made the same call here (a spawn middleware on Root sends it
// to SpawnNamed, so the name is claimed in the namespace, and taken
// names and bad names fail). Ids protoactor makes itself (Root.Spawn,
// Root.SpawnPrefix: they contain '$') and children spawned from an
// actor's context stay names of this process only; so do spawns from a
// RootContext made with NewRootContext rather than Root, and every
// Root.SpawnNamed with WithLocalRootNames.
//
// Errors: Send, Request, Lookup, SpawnNamed, QueuePID and ConsumeQueue
// check their arguments (ErrInvalidArgument, registry.ErrInvalidName) and
// return ErrClosed once Close has begun. Root's calls (Root.Send,
// Root.RequestFuture) cannot return errors: what they cannot deliver is a
// dead letter.
//
// A System is safe for concurrent use.
type System struct {
	*proto.ActorSystem

	ns     string
	id     uint64
	addr   string // this node's PID address, "shm://<namespace>/<node>"
	prefix string // "shm://<namespace>/"
	reg    *registry.Registry
	mb     *mailbox.Mailboxes
	sealer *seal.Sealer
	// plaintext is WithPlaintext's choice.
	plaintext bool
	types     *wire.Registry
	log       *slog.Logger
	logT      logx.Throttled // s.log, at most a few lines a second

	rmu     sync.Mutex
	remotes map[uint64]*remote

	// machine is WithRemote's remote; nil without it.
	machine *machine
	// raddr maps the remote addresses of this namespace's nodes
	// (WithRemote's, their PID addresses) to the nodes and back.
	raddr remoteAddrs

	links     links // watches of remote actors, requests waiting on remote nodes
	trust     *seal.TrustStore
	qmu       sync.Mutex
	queues    map[string]*queue
	queueRing shm.RingConfig // geometry of queues this node creates
	qlock     *shm.Lock      // the namespace's queue lock, once opened
	qlockMu   sync.Mutex
	registrar *proto.PID
	spawnRoot *proto.RootContext // protoactor's Root, without the middleware that makes Root.SpawnNamed SpawnNamed
	deadLettered,
	nUndelivered atomic.Uint64

	syncs barriers   // registry barriers this node waits on
	host  *link.Host // what the layers above (topic/) use

	stopWatch func()
	// meter is WithMeterProvider's provider; stopMetrics unregisters the
	// System's instruments' callback.
	meter       metric.MeterProvider
	stopMetrics func()
	// kinds are the kinds of actor this node offers (RegisterKind).
	kinds  kinds
	closed atomic.Bool
	gate   atomic.Pointer[func()] // open while the pump hands a message on (pumpDispatcher)
	pids   map[string]*proto.PID  // the pump's cache of local targets (pidOf)
}

// addressPrefix is the scheme of PIDs of shmactor nodes.
const addressPrefix = "shm://"

// Join makes this process a node of namespace ns, creating the namespace
// on first use: it joins the registry, creates this node's inbox, and
// starts delivering messages from other nodes to local actors. A nil or
// bad option makes an error wrapping ErrInvalidOption; a namespace name
// outside registry.ValidNamespace's rules, registry.ErrInvalidName; a
// namespace whose nodes seal differently, ErrModeMismatch.
func Join(ns string, opts ...Option) (s *System, err error) {
	o := options{}
	for _, opt := range opts {
		if opt == nil {
			return nil, fmt.Errorf("%w: join %q: nil Option", ErrInvalidOption, ns)
		}
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	s = &System{ns: ns, prefix: addressPrefix + ns + "/", types: wire.Default, remotes: map[uint64]*remote{}, queues: map[string]*queue{}, log: o.logger, queueRing: o.inbox}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	// No line, ours or protoactor's (its dead letters log the message),
	// formats a payload: a failed 1 GiB message is logged by type and size.
	s.log = slog.New(logx.Summarize(s.log.Handler()))
	s.logT.Log = s.log
	s.links.init()
	protoOpts := []proto.ConfigOption{proto.WithLoggerFactory(func(*proto.ActorSystem) *slog.Logger {
		return s.log.With("lib", "protoactor")
	})}
	if o.meter != nil {
		protoOpts = append(protoOpts, proto.WithMetricProviders(o.meter))
	}
	cfg := proto.Configure(protoOpts...)
	s.ActorSystem = proto.NewActorSystemWithConfig(cfg)
	s.installRootSpawn(o.localRoot)

	keys, err := seal.NewKeyPair(1)
	if err != nil {
		return nil, err
	}
	var identity *seal.Identity
	if o.identity != "" {
		if identity, err = seal.LoadIdentity(o.identity); err != nil {
			return nil, fmt.Errorf("shmactor: join %s: %w", ns, err)
		}
		defer identity.Wipe()
	}
	var trust *seal.TrustStore
	if o.trust != "" {
		if trust, err = seal.LoadTrustStore(o.trust); err != nil {
			return nil, fmt.Errorf("shmactor: join %s: %w", ns, err)
		}
	}
	s.trust = trust
	s.plaintext = o.plaintext
	if o.remote != nil {
		if err := s.startRemote(o.remote, identity, trust); err != nil {
			s.ActorSystem.Shutdown()
			return nil, fmt.Errorf("shmactor: join %s: %w", ns, err)
		}
	}
	mode := sealMode(o.plaintext)
	prepare := func(id uint64, dir *shm.Dir) (*registry.Node, error) {
		s.id = id
		s.addr = s.prefix + fmt.Sprintf("%016x", id)
		if s.machine != nil {
			s.addr = s.machine.addr
		}
		s.ProcessRegistry.Address = s.addr
		s.sealer, err = seal.New(seal.Config{Namespace: ns, Node: id, Keys: keys, Identity: identity, Trust: trust, Plaintext: o.plaintext})
		if err != nil {
			return nil, err
		}
		s.mb, err = mailbox.Open(mailbox.Config{
			Dir: dir, Self: id, Sealer: s.sealer, Types: s.types, Ring: o.inbox,
			Policy: o.policy, Timeout: o.timeout, Spin: o.spin,
			Inbox: s.inboxOf, Meet: s.meet, Handler: s.deliver, Undelivered: s.undelivered, Logger: s.log,
			OutOfLineQuota: o.oolQuota,
		})
		if err != nil {
			s.sealer.Close()
			return nil, err
		}
		self := s.sealer.Self()
		n := &registry.Node{PublicKey: self.Public, Epoch: self.Epoch, Inbox: s.mb.InboxName(), Meta: map[string]string{"seal": mode}}
		if self.AES {
			n.Meta[metaAES] = "1"
		}
		if s.machine != nil {
			n.Meta[metaRemote] = s.addr
		}
		if self.Cert != nil {
			n.CertIdentity, n.CertSignature = self.Cert.Identity, self.Cert.Signature
		}
		return n, nil
	}
	var admit func(*registry.Node) bool
	if trust != nil {
		// With a trust store, what a node not certified by a trusted
		// identity holds (names, subscriptions, queue holds) is not
		// seen, and a name it squats is taken over.
		admit = func(n *registry.Node) bool {
			p := peerOf(*n)
			return trust.Verify(ns, p.Node, p.Epoch, p.Public, p.Cert) == nil
		}
	}
	s.reg, err = registry.Join(ns, &registry.Options{Root: o.root, Group: o.group, Prepare: prepare, Logger: s.log, Admit: admit})
	if err != nil {
		if s.mb != nil {
			s.mb.Close()
		}
		if s.sealer != nil {
			s.sealer.Close()
		}
		if s.machine != nil {
			s.machine.shutdown()
		}
		s.ActorSystem.Shutdown()
		return nil, err
	}
	s.ProcessRegistry.RegisterAddressResolver(s.resolve)
	if o.meter != nil {
		s.meter = o.meter
		if s.stopMetrics, err = s.registerMetrics(o.meter); err != nil {
			s.Close()
			return nil, fmt.Errorf("shmactor: join %s: metrics: %w", ns, err)
		}
	}
	s.stopWatch = s.reg.Watch(s.onEvent)
	for _, n := range s.reg.Nodes() {
		if n.ID == s.id {
			continue
		}
		if m := n.Meta["seal"]; m != mode {
			s.Close()
			return nil, fmt.Errorf("%w: node %016x of %s is %q, this node %q", ErrModeMismatch, n.ID, ns, m, mode)
		}
		s.meetNode(n)
	}
	s.registrar = s.Root.Spawn(proto.PropsFromFunc(s.registrarReceive))
	s.host = s.newHost()
	link.Attach(s.ActorSystem, s.host)
	s.mb.Start() // only now: delivery needs the registry and the resolver
	return s, nil
}

func sealMode(plaintext bool) string {
	if plaintext {
		return "plaintext"
	}
	return "chacha20poly1305"
}

// Namespace returns the namespace's name.
func (s *System) Namespace() string { return s.ns }

// NodeID returns this node's id in the namespace.
func (s *System) NodeID() uint64 { return s.id }

// Sealed reports whether the System seals what it sends (the default),
// or runs plaintext (WithPlaintext). Layers built on the System, such as
// streams, seal their own bytes when it does.
func (s *System) Sealed() bool { return !s.plaintext }

// Registry returns the namespace registry, for listing nodes and names.
func (s *System) Registry() *registry.Registry { return s.reg }

// nodeOf returns the node of a PID address of this namespace: one made
// of the namespace's prefix and the node's id, or a node's remote
// address (WithRemote).
func (s *System) nodeOf(address string) (uint64, bool) {
	if address == s.addr && s.addr != "" {
		return s.id, true
	}
	h, ok := strings.CutPrefix(address, s.prefix)
	if !ok {
		if strings.HasPrefix(address, addressPrefix) || address == localAddress {
			return 0, false
		}
		return s.raddr.node(s, address)
	}
	if len(h) != 16 {
		return 0, false
	}
	id, err := strconv.ParseUint(h, 16, 64)
	return id, err == nil
}

// NodeAddress returns the PID address of a node of this namespace: its
// remote address if it has one (WithRemote), else one made of the
// namespace and the node's id.
func (s *System) NodeAddress(node uint64) string {
	if node == s.id && s.addr != "" {
		return s.addr
	}
	if a, ok := s.raddr.address(node); ok {
		return a
	}
	return s.prefix + fmt.Sprintf("%016x", node)
}

// resolve is the address resolver protoactor-go calls for PIDs that are
// not local: PIDs of other nodes of this namespace get the node's Process.
func (s *System) resolve(pid *proto.PID) (proto.Process, bool) {
	if pid.Address == s.prefix+queueNode {
		return &queueProcess{sys: s, name: pid.Id}, true
	}
	node, ok := s.nodeOf(pid.Address)
	if !ok {
		if s.foreign(pid.Address) {
			return machineProcess{s.machine}, true
		}
		return nil, false
	}
	if node == s.id {
		return nil, false
	}
	return s.remote(node), true
}

func (s *System) remote(node uint64) *remote {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	r := s.remotes[node]
	if r == nil {
		r = &remote{sys: s, node: node}
		s.remotes[node] = r
	}
	return r
}

func (s *System) inboxOf(node uint64) (string, error) {
	if node&(1<<63) != 0 { // a queue
		s.qmu.Lock()
		defer s.qmu.Unlock()
		for _, q := range s.queues {
			if q.id == node {
				return q.ring, nil
			}
		}
		return "", fmt.Errorf("shmactor: unknown queue %016x", node)
	}
	n, err := s.reg.Node(node)
	if err != nil {
		return "", err
	}
	return n.Inbox, nil
}

// meet adds a node that has joined an instant ago to the sealer.
func (s *System) meet(node uint64) bool {
	n, err := s.reg.Node(node)
	if err != nil {
		return false
	}
	return s.meetNode(n) == nil
}

// metaAES is the registry metadata key by which a node offers AES-256-GCM.
const metaAES = "aes"

// peerOf is what the sealer needs of a node's registry entry.
func peerOf(n registry.Node) seal.Peer {
	p := seal.Peer{Node: n.ID, Public: n.PublicKey, Epoch: n.Epoch, AES: n.Meta[metaAES] == "1"}
	if n.CertIdentity != "" {
		p.Cert = &seal.Cert{Identity: n.CertIdentity, Signature: n.CertSignature}
	}
	return p
}

func (s *System) meetNode(n registry.Node) error {
	s.raddr.learn(n)
	if err := s.sealer.AddPeer(peerOf(n)); err != nil {
		s.warn("shmactor: peer refused", "node", fmt.Sprintf("%016x", n.ID), "err", err)
		return err
	}
	return nil
}

// onEvent follows the namespace: peers that join are met, peers that leave
// or die end their watches and pending requests.
func (s *System) onEvent(ev registry.Event) {
	switch ev.Kind {
	case registry.NodeJoined:
		if ev.Node.ID != s.id {
			s.meetNode(ev.Node)
		}
	case registry.NodeLeft:
		if ev.Node.ID != s.id {
			s.nodeGone(ev.Node.ID)
		}
	}
}

// nodeGone ends everything that waited on a node that left or died.
// Sends to it fail at once. What it committed to this node's inbox before
// it went is still delivered: its key, its watchers and the requests
// waiting on it are retired only once the inbox has been drained past the
// point where it left (mailbox.AfterDrained); then its watchers get
// Terminated (reason: node gone) and requests to it fail with
// ErrDeadLetter.
func (s *System) nodeGone(node uint64) {
	s.rmu.Lock()
	r := s.remotes[node]
	if r != nil {
		r.gone.Store(true)
		delete(s.remotes, node)
	}
	s.rmu.Unlock()
	s.mb.Gone(node)
	s.raddr.forget(node)
	s.syncs.answered(0, node)
	s.mb.AfterDrained(func() { s.retire(node) })
}

// retire forgets a node that left once its last frames are delivered.
func (s *System) retire(node uint64) {
	s.sealer.RemovePeer(node)
	watches, futures := s.links.drop(node)
	who := s.NodeAddress(node)
	for _, w := range watches {
		s.terminated(w.watcher, proto.NewPID(who, w.watchee), proto.TerminatedReason_AddressTerminated)
	}
	for _, f := range futures {
		if p, ok := s.ProcessRegistry.GetLocal(f); ok {
			p.SendUserMessage(proto.NewPID(s.addr, f), &proto.DeadLetterResponse{Target: proto.NewPID(who, "")})
		}
	}
}

// terminated tells a local watcher that who has terminated.
func (s *System) terminated(watcherID string, who *proto.PID, why proto.TerminatedReason) {
	if p, ok := s.ProcessRegistry.GetLocal(watcherID); ok {
		p.SendSystemMessage(proto.NewPID(s.addr, watcherID), &proto.Terminated{Who: who, Why: why})
	}
}

// ---- receiving ----

// deliver hands a message from another node to its local target, on the
// inbox pump's goroutine.
func (s *System) deliver(m *mailbox.Message) {
	target := s.pidOf(m.Target)
	proc, _ := s.ProcessRegistry.GetLocal(m.Target) // DeadLetter when absent
	var sender *proto.PID
	if m.SenderID != "" {
		sender = proto.NewPID(m.SenderAddress, m.SenderID)
		sender.RequestId = uint32(m.Corr)
	}
	if m.Err != nil {
		// An unregistered type, or a payload that does not fit it: a dead
		// letter here, and a DeadLetterResponse to a waiting requester.
		s.deadLettered.Add(1)
		s.warn("shmactor: undecodable message dead-lettered", "type", m.Type, "from", fmt.Sprintf("%016x", m.From), "to", m.Target, "err", m.Err)
		s.EventStream.Publish(&proto.DeadLetterEvent{PID: target, Message: &Undecodable{Type: m.Type, Err: m.Err}, Sender: sender})
		if sender != nil {
			s.Root.Send(sender, &proto.DeadLetterResponse{Target: target})
		}
		return
	}
	switch m.Kind {
	case wire.KindUser:
		if strings.HasPrefix(m.Target, "future") {
			s.links.answered(m.From, m.Target)
		}
		var msg any = m.Value
		if sender != nil || len(m.Meta) > 0 {
			env := &proto.MessageEnvelope{Message: m.Value, Sender: sender}
			if len(m.Meta) > 0 {
				env.Header = m.Meta
			}
			msg = env
		}
		s.handOn(func() { proc.SendUserMessage(target, msg) })
	case wire.KindControl:
		if !s.syncControl(m) {
			s.control(m)
		}
	case wire.KindPublish:
		if !s.host.Publish(m) {
			s.warn("shmactor: publication for a node without subscriptions dropped", "subject", m.Target, "from", fmt.Sprintf("%016x", m.From))
		}
	case wire.KindSystem:
		if t, ok := m.Value.(*proto.Terminated); ok && t.Who != nil {
			s.links.unwatch(m.From, m.Target, t.Who.Id)
		}
		s.handOn(func() { proc.SendSystemMessage(target, m.Value) })
	default:
		s.warn("shmactor: message of unexpected kind dropped", "kind", m.Kind, "from", fmt.Sprintf("%016x", m.From))
	}
}

// maxCachedPIDs bounds the pump's cache of local targets' PIDs.
const maxCachedPIDs = 4096

// pidOf returns the PID of the local process id, from a cache only the
// inbox pump uses: one PID per target instead of one per message. (A pump
// handed off never comes back to it.)
func (s *System) pidOf(id string) *proto.PID {
	if p := s.pids[id]; p != nil {
		return p
	}
	if len(s.pids) >= maxCachedPIDs || s.pids == nil {
		s.pids = make(map[string]*proto.PID, 64)
	}
	p := proto.NewPID(s.addr, id)
	s.pids[id] = p
	return p
}

// Undecodable stands for a message that reached this node but could not
// be decoded (typically: its type is not registered here), or that
// carried no message at all (Err wraps mailbox.ErrNilMessage). It is what
// DeadLetterEvents carry for such messages.
type Undecodable struct {
	Type string // the sender's type name
	Err  error
}

// ---- names ----

// SpawnNamed spawns an actor under a name that any process of the
// namespace can Lookup. The actor is spawned first and its name claimed
// in the registry second, so from the moment any process can see the
// name, Send, Request and Watch to it work. If another node holds the
// name, the actor is stopped and SpawnNamed fails with an error wrapping
// registry.ErrNameTaken that names the holder. The name is released when
// the actor stops or the system closes. Nil props make an error wrapping
// ErrInvalidArgument; a name outside the registry's rules (see
// registry.ValidName), registry.ErrInvalidName; a closed System,
// ErrClosed. Root.SpawnNamed is this same call (see System).
func (s *System) SpawnNamed(props *Props, name string) (*PID, error) {
	return s.spawnNamed(s.spawnRoot, props, name)
}

// spawnNamed is SpawnNamed, spawning from root (the parent of actors
// spawned from it: protoactor's root, or a guardian).
func (s *System) spawnNamed(root *proto.RootContext, props *Props, name string) (*PID, error) {
	if err := s.checkSpawn(props, name); err != nil {
		return nil, err
	}
	pid, err := root.SpawnNamed(s.onPump(props), name)
	if err != nil {
		return nil, fmt.Errorf("shmactor: spawn %q: %w", name, err)
	}
	if err := s.reg.Register(name, name); err != nil {
		// Wait for it to stop, so that the name is free again here.
		s.Root.StopFuture(pid).Wait()
		return nil, fmt.Errorf("shmactor: spawn %q: %w", name, err)
	}
	s.Root.Send(s.registrar, &keepName{pid: pid, name: name})
	return pid, nil
}

// keepName asks the registrar to release name when pid stops.
type keepName struct {
	pid  *proto.PID
	name string
}

func (s *System) registrarReceive(ctx proto.Context) {
	switch m := ctx.Message().(type) {
	case *keepName:
		ctx.Watch(m.pid)
		s.links.keep(m.pid.Id, m.name)
	case *keepConsumer:
		ctx.Watch(m.qc.pid)
		s.links.keepConsumer(m.qc.pid.Id, m.qc)
	case *proto.Terminated:
		if qc := s.links.releaseConsumer(m.Who.Id); qc != nil {
			s.stopConsumer(qc)
		}
		if name, ok := s.links.release(m.Who.Id); ok && !s.closed.Load() {
			if err := s.reg.Unregister(name); err != nil && !errors.Is(err, registry.ErrNotFound) {
				s.warn("shmactor: releasing name", "name", name, "err", err)
			}
		}
	}
}

// Lookup returns the PID of the actor registered under name, wherever it
// runs. It is served from the registry's cached view. A name nobody holds
// makes an error wrapping registry.ErrNotFound; a name outside the
// registry's rules, registry.ErrInvalidName; a closed System, ErrClosed.
func (s *System) Lookup(name string) (*PID, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("%w: lookup %q", ErrClosed, name)
	}
	e, err := s.reg.Lookup(name)
	switch {
	case errors.Is(err, registry.ErrNotFound):
		return nil, &userError{msg: fmt.Sprintf("shmactor: lookup %q: no actor has that name in namespace %q", name, s.ns), err: err}
	case errors.Is(err, registry.ErrClosed):
		return nil, fmt.Errorf("%w: lookup %q", ErrClosed, name)
	case err != nil:
		return nil, fmt.Errorf("shmactor: lookup %q: %w", name, err)
	}
	return proto.NewPID(s.NodeAddress(e.Node), e.Target), nil
}

// ---- stats, close ----

// Stats counts a node's traffic.
type Stats struct {
	mailbox.Stats
	// DeadLettered counts messages that reached this node and could not
	// be decoded or carried no message; Undeliverable counts messages this
	// node could not send.
	DeadLettered, Undeliverable uint64
}

// Stats returns the node's counters.
func (s *System) Stats() Stats {
	return Stats{Stats: s.mb.Stats(), DeadLettered: s.deadLettered.Load(), Undeliverable: s.nUndelivered.Load()}
}

// Close leaves the namespace: it releases every name this node holds,
// stops delivering messages from other nodes, and removes this node's
// inbox and record; other nodes' watchers of this node's actors get
// Terminated. Local actors are not stopped. Every call of the System
// made after Close has begun fails with ErrClosed; Close itself, called
// again, is harmless and returns nil.
func (s *System) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	if s.stopWatch != nil {
		s.stopWatch()
	}
	if s.stopMetrics != nil {
		s.stopMetrics()
	}
	if s.host != nil {
		s.host.Close()
		link.Detach(s.ActorSystem)
	}
	s.closeQueues()
	err := s.mb.Close()
	if e := s.reg.Close(); err == nil {
		err = e
	}
	s.sealer.Close()
	if s.machine != nil {
		s.machine.shutdown()
	}
	s.ActorSystem.Shutdown()
	return err
}

func (s *System) warn(msg string, args ...any) { s.logT.Warn(msg, args...) }
