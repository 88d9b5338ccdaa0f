package actor

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	proto "github.com/asynkron/protoactor-go/actor"
	paremote "github.com/asynkron/protoactor-go/remote"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	protobuf "google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/shmactor/shmactor/internal/seal"
	"github.com/shmactor/shmactor/internal/wire"
	"github.com/shmactor/shmactor/mailbox"
	"github.com/shmactor/shmactor/registry"
)

// Beyond one machine (docs/architecture.md, "Two transports").
//
// With WithRemote a node also runs protoactor-go's remote: a gRPC server
// on its address, which becomes the node's PID address. A PID's address
// then says where to go: a node of this machine's namespace (its remote
// address is in its registry record) is reached through shared memory as
// before; any other address is another machine's node, reached through
// protoactor-go's remote.
//
// protoactor-go's remote serializes protobuf messages only (its endpoint
// writer always uses its protobuf serializer). A message of a type
// registered with RegisterMessage travels as an anypb.Any whose type URL
// is anyPrefix and the type's registered name and whose value is its
// msgpack encoding, the same as on the shared-memory path, addressed to
// the receiving node's gateway with the real target in a header; the
// gateway decodes it and hands it to the target with its sender and
// headers. Protobuf messages travel as they are.

// ErrNoRemote is returned by LookupAt on a System without WithRemote,
// and when the name's holder has no remote address.
var ErrNoRemote = errors.New("shmactor: no remote")

const (
	metaRemote = "remote" // a node's remote address, in its registry record
	anyPrefix  = "shmactor/"
	gatewayID  = "shmactor-gateway" // a node's gateway, for registered types
	namesID    = "shmactor-names"   // a node's name service, for LookupAt
)

// RemoteOption configures WithRemote.
type RemoteOption func(*remoteOptions) error

type remoteOptions struct {
	tls       *tls.Config
	insecure  bool
	anyHost   bool
	advertise string
}

type remoteConfig struct {
	host string
	port int
	opts remoteOptions
}

// RemoteTLS makes the remote use cfg, for its server and for the
// connections it dials: certificates the user gives (Certificates,
// ClientCAs and ClientAuth for the server, RootCAs for dialing). Without
// it, and without RemoteInsecure, the remote uses mutual TLS from the
// node's identity and trust store (WithIdentity, WithTrustStore).
func RemoteTLS(cfg *tls.Config) RemoteOption {
	return func(o *remoteOptions) error {
		if cfg == nil {
			return fmt.Errorf("%w: RemoteTLS: nil tls.Config", ErrInvalidOption)
		}
		o.tls = cfg.Clone()
		return nil
	}
}

// RemoteInsecure makes the remote speak plaintext gRPC: anyone who can
// reach the address can send to every actor of the node, and read what
// it sends. It is refused for an address that is not a loopback address
// unless RemoteAllowNonLoopback is given too.
func RemoteInsecure() RemoteOption {
	return func(o *remoteOptions) error { o.insecure = true; return nil }
}

// RemoteAllowNonLoopback lets RemoteInsecure listen on an address that
// is not a loopback address.
func RemoteAllowNonLoopback() RemoteOption {
	return func(o *remoteOptions) error { o.anyHost = true; return nil }
}

// RemoteAdvertise sets the address other machines reach the node at
// ("host:port"), when it is not the one it listens on (0.0.0.0, a NAT):
// it is the node's PID address.
func RemoteAdvertise(hostport string) RemoteOption {
	return func(o *remoteOptions) error {
		if _, _, err := splitHostPort(hostport); err != nil {
			return fmt.Errorf("%w: RemoteAdvertise %q: %v", ErrInvalidOption, hostport, err)
		}
		o.advertise = hostport
		return nil
	}
}

// WithRemote makes the node reachable from other machines: it starts
// protoactor-go's remote (gRPC) on addr ("host:port"; port 0 picks a free
// one; one System per process may have a remote), and the node's PID address becomes its remote address (the one
// it listens on, or RemoteAdvertise's). PIDs of this machine's nodes are
// still served through shared memory; PIDs of other machines' nodes go
// through the remote. The connection is mutual TLS from the node's
// identity and trust store (WithIdentity, WithTrustStore) unless
// RemoteTLS or RemoteInsecure says otherwise; without any of them Join
// fails with ErrInvalidOption. An address that cannot be listened on
// fails Join with the listener's error. Without WithRemote nothing
// listens.
func WithRemote(addr string, opts ...RemoteOption) Option {
	return func(o *options) error {
		host, port, err := splitHostPort(addr)
		if err != nil {
			return fmt.Errorf("%w: WithRemote %q: %v", ErrInvalidOption, addr, err)
		}
		rc := &remoteConfig{host: host, port: port}
		for _, opt := range opts {
			if opt == nil {
				return fmt.Errorf("%w: WithRemote %q: nil RemoteOption", ErrInvalidOption, addr)
			}
			if err := opt(&rc.opts); err != nil {
				return err
			}
		}
		ro := rc.opts
		switch {
		case ro.insecure && ro.tls != nil:
			return fmt.Errorf("%w: WithRemote %q: RemoteInsecure and RemoteTLS together", ErrInvalidOption, addr)
		case ro.insecure && !ro.anyHost && !isLoopback(host):
			return fmt.Errorf("%w: WithRemote %q: plaintext on an address that is not a loopback address (RemoteAllowNonLoopback allows it)", ErrInvalidOption, addr)
		case ro.advertise == "" && unspecified(host):
			return fmt.Errorf("%w: WithRemote %q: listening on every address: say with RemoteAdvertise which one other machines reach", ErrInvalidOption, addr)
		}
		o.remote = rc
		return nil
	}
}

func splitHostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("port %q is not a number from 0 to 65535", p)
	}
	return host, port, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func unspecified(host string) bool {
	ip := net.ParseIP(host)
	return host == "" || ip != nil && ip.IsUnspecified()
}

// machine is a System's remote: protoactor-go's, and the gateway and
// name service it serves.
type machine struct {
	sys    *System
	r      *paremote.Remote
	addr   string
	handle proto.AddressResolver // protoactor-go remote's resolver
	encs   sync.Pool             // *wire.Encoder
	decs   sync.Pool             // *wire.Decoder
	urls   sync.Map              // registered name → type URL
	// gateways are other machines' nodes' gateways, by address.
	gateways  sync.Map // string → *remoteGateway
	ngateways atomic.Int64
}

// maxRemoteBatch is the largest gRPC message a remote takes, in bytes:
// a batch of messages from another machine's node.
const maxRemoteBatch = 1 << 30

// remoteRunning is set while a System of this process has a remote:
// protoactor-go's remote sets gRPC's process-wide logger each time one
// starts, which gRPC allows only before it runs, so a process has one.
var remoteRunning atomic.Bool

// startRemote starts the remote of rc, with TLS from id and trust unless
// rc says otherwise, and returns the node's address.
func (s *System) startRemote(rc *remoteConfig, id *seal.Identity, trust *seal.TrustStore) (err error) {
	addr := net.JoinHostPort(rc.host, strconv.Itoa(rc.port))
	if !remoteRunning.CompareAndSwap(false, true) {
		return fmt.Errorf("%w: WithRemote %q: another System of this process has a remote (one per process: protoactor-go's remote sets gRPC's process-wide logger as it starts)", ErrInvalidOption, addr)
	}
	defer func() {
		if err != nil {
			remoteRunning.Store(false)
		}
	}()
	var creds credentials.TransportCredentials
	switch {
	case rc.opts.insecure:
		creds = insecure.NewCredentials()
	case rc.opts.tls != nil:
		creds = credentials.NewTLS(rc.opts.tls)
	case id != nil && trust != nil:
		cert, err := id.TLSCertificate()
		if err != nil {
			return err
		}
		creds = credentials.NewTLS(seal.MutualTLS(cert, trust))
	default:
		return fmt.Errorf("%w: WithRemote %q: no TLS: give WithIdentity and WithTrustStore (mutual TLS from the nodes' identities), RemoteTLS, or RemoteInsecure", ErrInvalidOption, addr)
	}
	// protoactor-go's Start panics when it cannot listen: listen first,
	// for an error. With port 0 this finds one that is free now.
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("shmactor: remote: %w", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cfgOpts := []paremote.ConfigOption{
		// protoactor-go's endpoint writer sends up to 1000 messages in
		// one gRPC message: 64 MiB of 64 KiB messages, past gRPC's
		// default 4 MiB limit on what a server takes.
		paremote.WithServerOptions(grpc.Creds(creds), grpc.ChainStreamInterceptor(recoverStream), grpc.MaxRecvMsgSize(maxRemoteBatch)),
		paremote.WithDialOptions(grpc.WithTransportCredentials(creds)),
	}
	if rc.opts.advertise != "" {
		cfgOpts = append(cfgOpts, paremote.WithAdvertisedHost(rc.opts.advertise))
	}
	m := &machine{sys: s}
	m.encs.New = func() any { return wire.NewEncoder(s.types) }
	m.decs.New = func() any {
		d := wire.NewDecoder(s.types)
		// Each message's bytes are its own (protobuf decoding made them
		// for it): decoded byte slices may share them.
		d.Alias = true
		return d
	}
	m.r = paremote.NewRemote(s.ActorSystem, paremote.Configure(rc.host, port, cfgOpts...))
	if err := startRecovered(m.r); err != nil {
		return fmt.Errorf("shmactor: remote %s: %w", addr, err)
	}
	m.addr = s.ProcessRegistry.Address
	// protoactor-go's resolver takes every address: it is consulted only
	// through ours, for addresses of other machines.
	hs := s.ProcessRegistry.RemoteHandlers
	m.handle = hs[len(hs)-1]
	s.ProcessRegistry.RemoteHandlers = hs[:len(hs)-1]
	s.ProcessRegistry.Add(&gateway{m: m}, gatewayID)
	s.ProcessRegistry.Add(&names{sys: s}, namesID)
	s.machine = m
	return nil
}

func startRecovered(r *paremote.Remote) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%v", p)
		}
	}()
	r.Start()
	return nil
}

// recoverStream ends a stream whose handling panics (protoactor-go's
// reader panics on a protobuf type it does not know) with an error,
// instead of the process.
func recoverStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = status.Errorf(codes.Internal, "shmactor: remote: a message could not be read: %v", p)
		}
	}()
	return handler(srv, ss)
}

// shutdown stops the remote: its server, and its connections to other
// machines (a shutdown that is not graceful stops the server only, and
// leaves every connection it dialed open, and its goroutines running).
func (m *machine) shutdown() {
	m.r.Shutdown(true)
	remoteRunning.Store(false)
}

// foreign reports whether address is another machine's: not this
// namespace's (shared memory) and not local.
func (s *System) foreign(address string) bool {
	if s.machine == nil || address == localAddress || address == s.addr || strings.HasPrefix(address, addressPrefix) {
		return false
	}
	_, ok := s.nodeOf(address)
	return !ok
}

// machineProcess is the Process of a PID of another machine's node.
type machineProcess struct{ m *machine }

func (p machineProcess) SendUserMessage(pid *PID, message any) {
	header, msg, sender := proto.UnwrapEnvelope(message)
	var h map[string]string
	if header != nil && header.Length() > 0 {
		h = header.ToMap()
	}
	if err := p.m.send(pid, msg, sender, h); err != nil {
		p.m.sys.undeliverable(pid, message, err)
	}
}

// SendSystemMessage passes the protobuf system messages (Watch, Unwatch,
// Terminated, Stop) to protoactor-go's remote; the others
// (supervision's) do not cross machines.
func (p machineProcess) SendSystemMessage(pid *PID, message any) {
	if _, ok := message.(protobuf.Message); !ok {
		p.m.sys.nUndelivered.Add(1)
		p.m.sys.warn("shmactor: system message does not cross machines; dropped", "message", fmt.Sprintf("%T", message), "to", pidText(pid))
		return
	}
	proc, _ := p.m.handle(pid)
	proc.SendSystemMessage(pid, message)
}

func (p machineProcess) Stop(pid *PID) { p.SendSystemMessage(pid, &proto.Stop{}) }

// send sends a user message to another machine's node: a protobuf
// message as it is, one of a registered type to the node's gateway.
func (m *machine) send(pid *PID, msg any, sender *PID, header map[string]string) error {
	target := pid
	var proc proto.Process
	if _, ok := msg.(protobuf.Message); ok {
		proc, _ = m.handle(target)
	} else {
		a, err := m.wrap(pid.Id, msg)
		if err != nil {
			return err
		}
		msg = a
		target, proc = m.gatewayOf(pid.Address)
	}
	if sender == nil && len(header) == 0 {
		proc.SendUserMessage(target, msg)
		return nil
	}
	env := &proto.MessageEnvelope{Message: msg, Sender: sender}
	if len(header) > 0 {
		env.Header = header
	}
	proc.SendUserMessage(target, env)
	return nil
}

// remoteGateway is another machine's node's gateway: its PID and
// protoactor-go's Process for it.
type remoteGateway struct {
	pid  *PID
	proc proto.Process
}

// gatewayOf returns the gateway of the node at address, made once.
func (m *machine) gatewayOf(address string) (*PID, proto.Process) {
	if g, ok := m.gateways.Load(address); ok {
		g := g.(*remoteGateway)
		return g.pid, g.proc
	}
	pid := proto.NewPID(address, gatewayID)
	proc, _ := m.handle(pid)
	g := &remoteGateway{pid, proc}
	if m.ngateways.Add(1) > maxGateways {
		m.gateways.Clear() // addresses come and go; keep it bounded
		m.ngateways.Store(1)
	}
	m.gateways.Store(address, g)
	return pid, proc
}

// maxGateways bounds the gateways a machine remembers.
const maxGateways = 4096

// wrap encodes a message of a registered type for target (an actor id)
// on another machine: the Any's type URL is anyPrefix and the type's
// registered name; its value is the target's length (a uvarint), the
// target, and the message's msgpack encoding.
func (m *machine) wrap(target string, msg any) (*anypb.Any, error) {
	switch msg.(type) {
	case *mailbox.Blob:
		return nil, fmt.Errorf("%w: a Blob cannot cross machines (it is shared memory)", ErrInvalidArgument)
	}
	name, err := m.sys.types.NameOf(msg)
	if err != nil {
		return nil, sendErr(err)
	}
	enc := m.encs.Get().(*wire.Encoder)
	defer m.encs.Put(enc)
	b := binary.AppendUvarint(make([]byte, 0, 64+len(target)), uint64(len(target)))
	b, err = enc.AppendPayload(append(b, target...), msg)
	if err != nil {
		return nil, sendErr(err)
	}
	if len(enc.Files) > 0 {
		clear(enc.Files)
		enc.Files = enc.Files[:0]
		return nil, fmt.Errorf("%w: %T: an *os.File cannot cross machines", ErrInvalidArgument, msg)
	}
	url, ok := m.urls.Load(name)
	if !ok {
		url, _ = m.urls.LoadOrStore(name, anyPrefix+name)
	}
	return &anypb.Any{TypeUrl: url.(string), Value: b}, nil
}

// unwrap decodes what wrap made. It returns the target's id and the
// message, or why it cannot.
func (m *machine) unwrap(a *anypb.Any) (string, any, error) {
	name, ok := strings.CutPrefix(a.GetTypeUrl(), anyPrefix)
	if !ok {
		return "", nil, fmt.Errorf("a message of type %q reached the gateway", a.GetTypeUrl())
	}
	b := a.GetValue()
	n, k := binary.Uvarint(b)
	if k <= 0 || n == 0 || n > uint64(len(b)-k) {
		return "", nil, errors.New("a message without a target reached the gateway")
	}
	target := string(b[k : k+int(n)])
	dec := m.decs.Get().(*wire.Decoder)
	defer m.decs.Put(dec)
	v, err := dec.Payload(name, b[k+int(n):])
	if err != nil {
		return target, nil, err
	}
	return target, v, nil
}

// gateway takes messages of registered types from other machines and
// hands them to their targets.
type gateway struct{ m *machine }

func (g *gateway) SendUserMessage(_ *PID, message any) {
	header, msg, sender := proto.UnwrapEnvelope(message)
	var h map[string]string
	if header != nil {
		h = header.ToMap()
	}
	s := g.m.sys
	a, ok := msg.(*anypb.Any)
	if !ok {
		s.warn("shmactor: remote: a message that is not a registered type's reached the gateway; dropped", "type", fmt.Sprintf("%T", msg))
		s.nUndelivered.Add(1)
		return
	}
	id, v, err := g.m.unwrap(a)
	if err != nil {
		s.deadLettered.Add(1)
		s.warn("shmactor: remote: undecodable message dead-lettered", "type", a.GetTypeUrl(), "to", id, "err", err)
		if sender != nil {
			s.Root.Send(sender, &proto.DeadLetterResponse{Target: proto.NewPID(s.addr, id)})
		}
		return
	}
	target := proto.NewPID(s.addr, id)
	proc, _ := s.ProcessRegistry.GetLocal(id)
	if proc == nil {
		proc = s.DeadLetter
	}
	if sender == nil && len(h) == 0 {
		proc.SendUserMessage(target, v)
		return
	}
	env := &proto.MessageEnvelope{Message: v, Sender: sender}
	if len(h) > 0 {
		env.Header = h
	}
	proc.SendUserMessage(target, env)
}

func (g *gateway) SendSystemMessage(*PID, any) {}
func (g *gateway) Stop(*PID)                   {}

// lookupAt asks a node's name service for a name; lookupAnswer is the
// answer: the PID, or why not (Code 1 no such name, 2 no remote address,
// 3 other).
type (
	lookupAt     struct{ Name string }
	lookupAnswer struct {
		Address, ID string
		Code        uint8
		Err         string
	}
)

func init() {
	for _, err := range []error{
		RegisterMessageName[*lookupAt]("shmactor.lookupAt"),
		RegisterMessageName[*lookupAnswer]("shmactor.lookupAnswer"),
	} {
		if err != nil {
			panic(err)
		}
	}
}

// names answers LookupAt from other machines, from this namespace's
// registry.
type names struct{ sys *System }

func (n *names) SendUserMessage(_ *PID, message any) {
	_, msg, sender := proto.UnwrapEnvelope(message)
	q, ok := msg.(*lookupAt)
	if !ok || sender == nil {
		return
	}
	s := n.sys
	s.reg.Sync()
	var a lookupAnswer
	pid, err := s.Lookup(q.Name)
	switch {
	case errors.Is(err, registry.ErrNotFound):
		a = lookupAnswer{Code: 1, Err: err.Error()}
	case err != nil:
		a = lookupAnswer{Code: 3, Err: err.Error()}
	case strings.HasPrefix(pid.Address, addressPrefix):
		a = lookupAnswer{Code: 2, Err: fmt.Sprintf("%q is held by a node of namespace %q without a remote address", q.Name, s.ns)}
	default:
		a = lookupAnswer{Address: pid.Address, ID: pid.Id}
	}
	if err := s.send(sender, &a, nil); err != nil {
		s.warn("shmactor: remote: answering a lookup", "name", q.Name, "err", err)
	}
}

func (n *names) SendSystemMessage(*PID, any) {}
func (n *names) Stop(*PID)                   {}

// LookupAt looks name up in the namespace of the node at address (a
// remote address, "host:port", of a node on another machine, or of this
// machine) and returns the PID of its holder, which must have a remote
// address itself. It waits for the answer until ctx ends, or for 10 s
// without a deadline. It fails with ErrNoRemote when this System has no
// WithRemote or the holder has no remote address, an error wrapping
// registry.ErrNotFound when nobody holds name there, ErrDeadLetter when
// the node cannot be reached (protoactor-go's remote gives up after 5
// tries 2 s apart, about 10 s: a shorter wait ends first), ErrTimeout or
// ctx's error when no answer comes in time, and ErrInvalidArgument for a
// nil Context.
func (s *System) LookupAt(ctx context.Context, address, name string) (*PID, error) {
	if ctx == nil {
		return nil, fmt.Errorf("%w: lookup %q at %s: nil Context", ErrInvalidArgument, name, address)
	}
	if s.machine == nil {
		return nil, fmt.Errorf("%w: lookup %q at %s: this System has no WithRemote", ErrNoRemote, name, address)
	}
	if s.closed.Load() {
		return nil, fmt.Errorf("%w: lookup %q at %s", ErrClosed, name, address)
	}
	if err := registry.ValidName(name); err != nil {
		return nil, fmt.Errorf("shmactor: lookup %q at %s: %w", name, address, err)
	}
	if _, _, err := splitHostPort(address); err != nil {
		return nil, fmt.Errorf("%w: lookup %q at %q: not a remote address: %v", ErrInvalidArgument, name, address, err)
	}
	timeout := 10 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
		if timeout <= 0 {
			return nil, context.DeadlineExceeded
		}
	}
	type answer struct {
		v   any
		err error
	}
	done := make(chan answer, 1)
	go func() {
		v, err := s.Request(proto.NewPID(address, namesID), &lookupAt{Name: name}, timeout)
		done <- answer{v, err}
	}()
	var a answer
	select {
	case a = <-done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if a.err != nil {
		return nil, fmt.Errorf("shmactor: lookup %q at %s: %w", name, address, a.err)
	}
	r, ok := a.v.(*lookupAnswer)
	if !ok {
		return nil, fmt.Errorf("shmactor: lookup %q at %s: answered %T", name, address, a.v)
	}
	switch r.Code {
	case 0:
		return proto.NewPID(r.Address, r.ID), nil
	case 1:
		return nil, &userError{msg: fmt.Sprintf("shmactor: lookup %q at %s: %s", name, address, r.Err), err: registry.ErrNotFound}
	case 2:
		return nil, &userError{msg: fmt.Sprintf("shmactor: lookup %q at %s: %s", name, address, r.Err), err: ErrNoRemote}
	}
	return nil, fmt.Errorf("shmactor: lookup %q at %s: %s", name, address, r.Err)
}

// remoteAddrs maps the remote addresses of a namespace's nodes to the
// nodes and back, from their registry records.
type remoteAddrs struct {
	mu     sync.RWMutex
	nodes  map[string]uint64
	addrs  map[uint64]string
	misses map[string]time.Time // addresses found in no record, and when
}

// missTTL is how long an address found in no node's record is taken for
// another machine's before the records are read again. A node of the
// namespace taken for another machine's meanwhile is still reached,
// through its remote.
const missTTL = time.Second

// learn records n's remote address, if it has one.
func (r *remoteAddrs) learn(n registry.Node) {
	a := n.Meta[metaRemote]
	if a == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.makeMaps()
	r.nodes[a], r.addrs[n.ID] = n.ID, a
	delete(r.misses, a)
}

// makeMaps makes the maps on first use; r.mu is held.
func (r *remoteAddrs) makeMaps() {
	if r.nodes == nil {
		r.nodes, r.addrs, r.misses = map[string]uint64{}, map[uint64]string{}, map[string]time.Time{}
	}
}

// forget drops a node that left.
func (r *remoteAddrs) forget(node uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if a, ok := r.addrs[node]; ok {
		delete(r.addrs, node)
		delete(r.nodes, a)
	}
}

// node returns the node whose remote address is a, reading the registry
// records on a miss (at most once a second per address).
func (r *remoteAddrs) node(s *System, a string) (uint64, bool) {
	r.mu.RLock()
	n, ok := r.nodes[a]
	at, missed := r.misses[a]
	r.mu.RUnlock()
	if ok || missed && time.Since(at) < missTTL || s.reg == nil {
		return n, ok
	}
	for _, rec := range s.reg.Nodes() {
		r.learn(rec)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if n, ok = r.nodes[a]; !ok {
		r.makeMaps()
		if len(r.misses) > 4096 {
			clear(r.misses)
		}
		r.misses[a] = time.Now()
	}
	return n, ok
}

// address returns node's remote address, if it has one. Nodes are
// learnt as they are met (meetNode), from the registry's events.
func (r *remoteAddrs) address(node uint64) (string, bool) {
	r.mu.RLock()
	a, ok := r.addrs[node]
	r.mu.RUnlock()
	return a, ok
}
