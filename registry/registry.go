package registry

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os/user"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shmactor/shmactor/shm"
)

// Options configures Join. The zero value joins a private namespace under
// the default root.
type Options struct {
	// Root is the directory namespaces live in: by default
	// shm.DefaultRoot() (/dev/shm/shmactor-<uid> on Linux), or, for a group
	// namespace, shmactor-group-<group> beside it.
	Root string
	// Group makes a group namespace, shared by the members of this group
	// (a name or numeric id): directories 0770, files 0660.
	Group string
	// Prepare, if set, is called with the node's id and the namespace
	// directory after the node's lease is taken and before its record is
	// published, to create the node's segments and fill in what peers
	// need: keys, certificate, inbox, meta. ID, PID, Start and Joined are
	// set by Join.
	Prepare func(id uint64, dir *shm.Dir) (*Node, error)
	// ReapInterval is how often the namespace's reaper checks whether
	// nodes are alive (default 200ms). One node at a time is the reaper.
	ReapInterval time.Duration
	// Logger receives the registry's rare log lines (reaped nodes,
	// malformed records); nil discards them.
	Logger *slog.Logger
	// Admit, if set, says whether a node is one this node deals with (its
	// key certified by a trusted identity, say). What other nodes hold
	// is invisible here: Lookup, Names, Holders and SharedNames leave
	// it out, and Register takes over a name a node not admitted holds.
	// Nodes without a record are not admitted. This node always is.
	Admit func(n *Node) bool
}

// Event is a change in the namespace, as seen by a watcher.
type Event struct {
	Kind EventKind
	// Node is the node that joined or left (NodeJoined, NodeLeft);
	// otherwise zero. A node that joined and left between two looks of
	// the watcher is reported too, with NodeLeft only and only its ID:
	// it may have talked to this node meanwhile.
	Node  Node
	Entry Entry // NameAdded, NameRemoved: the name
}

// EventKind says what changed.
type EventKind int

// Event kinds.
const (
	NodeJoined EventKind = iota + 1
	NodeLeft
	NameAdded
	NameRemoved
)

// String returns a readable name.
func (k EventKind) String() string {
	switch k {
	case NodeJoined:
		return "node joined"
	case NodeLeft:
		return "node left"
	case NameAdded:
		return "name added"
	case NameRemoved:
		return "name removed"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Registry is a process's membership of a namespace: its node, the names
// it holds, and a view of every node and name in the namespace that a
// watcher goroutine keeps current. It is safe for concurrent use.
type Registry struct {
	ns       string
	dir      *shm.Dir
	cl       *changelog
	id       uint64
	self     Node
	log      *slog.Logger
	interval time.Duration

	reapMu     sync.Mutex
	reapLock   *shm.Lock // serializes reaping in the namespace
	reaperLock *shm.Lock // held by the node that probes the others
	isReaper   bool

	// refreshMu makes reading a file and applying it to the view one step,
	// so a refresh that read a file before a change cannot overwrite the
	// one that read it after.
	refreshMu sync.Mutex
	mu        sync.RWMutex
	nodes     map[uint64]*Node
	unseen    idSet // nodes reported gone (seen or not), so that each is reported once
	excl      map[string]Entry
	shared    map[string]map[uint64]Entry
	seen      uint64 // changelog generation the view reflects

	own      sync.Mutex
	mine     map[string]bool // exclusive names this node holds
	mySubs   map[string]bool // shared names this node holds
	wmu      sync.Mutex
	watchers map[int]func(Event)
	nextW    int

	closed atomic.Bool
	stop   chan struct{}
	done   chan struct{}

	admit    func(*Node) bool
	admitMu  sync.Mutex
	verdicts map[uint64]bool // Admit's answer per node (ids are never reused)
}

const (
	defaultReapInterval = 200 * time.Millisecond
	reaperRetry         = 250 * time.Millisecond // a non-reaper tries to become one this often
	rescanEvery         = 10 * time.Second       // full rescan, as a safety net
	reapLockTimeout     = 5 * time.Second
	staleTemp           = time.Minute
)

// Join joins (creating it if needed) the namespace ns: it takes this
// process's lease in the namespace directory, reaps whatever crashed
// processes left behind, publishes this node's record and starts watching.
func Join(ns string, opts *Options) (r *Registry, err error) {
	if err := ValidNamespace(ns); err != nil {
		return nil, err
	}
	if opts == nil {
		opts = &Options{}
	}
	path, err := namespacePath(ns, opts)
	if err != nil {
		return nil, err
	}
	d, reapLock, lease, cl, err := enter(ns, path, opts.Group)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			cl.seg.Close()
			reapLock.Close()
			d.Close()
		}
	}()
	r = &Registry{
		ns: ns, dir: d, cl: cl, id: lease.ID(), log: opts.Logger, interval: opts.ReapInterval,
		nodes: map[uint64]*Node{}, excl: map[string]Entry{}, shared: map[string]map[uint64]Entry{},
		mine: map[string]bool{}, mySubs: map[string]bool{}, watchers: map[int]func(Event){},
		stop: make(chan struct{}), done: make(chan struct{}),
		admit: opts.Admit, verdicts: map[uint64]bool{},
	}
	if r.log == nil {
		r.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if r.interval <= 0 {
		r.interval = defaultReapInterval
	}
	r.reapLock = reapLock
	if r.reaperLock, err = d.OpenLock(reaperLockName); err != nil {
		return nil, err
	}
	if _, err := r.Reap(); err != nil {
		r.log.Warn("registry: reaping at join failed", "namespace", ns, "err", err)
	}
	node := &Node{}
	if opts.Prepare != nil {
		if node, err = opts.Prepare(r.id, d); err != nil {
			return nil, fmt.Errorf("registry: join %s: prepare: %w", ns, err)
		}
		if node == nil {
			node = &Node{}
		}
	}
	node.ID, node.PID, node.Start, node.Joined = r.id, lease.PID(), lease.StartTime(), time.Now()
	rec, err := MarshalNode(node)
	if err != nil {
		return nil, err
	}
	if err := d.WriteFile(nodeFile(r.id), rec); err != nil {
		return nil, fmt.Errorf("registry: join %s: publish node: %w", ns, err)
	}
	r.self = *node
	r.cl.log(nodeFile(r.id))
	r.rescan()
	go r.watch()
	return r, nil
}

// enter opens the namespace directory at path, creating it if needed, and
// takes this process's lease and the changelog there. It does so holding
// the reap lock, which Clean holds while it decides and removes: a
// process is never half-way in when Clean looks (a lease's temporary file
// or a changelog opened but no lease yet), and a directory Clean removed
// while this process waited for the lock is left for a fresh one.
func enter(ns, path, group string) (d *shm.Dir, reapLock *shm.Lock, lease *shm.Lease, cl *changelog, err error) {
	for attempt := 0; ; attempt++ {
		var retry bool
		d, reapLock, lease, cl, retry, err = tryEnter(path, group)
		if err == nil {
			return d, reapLock, lease, cl, nil
		}
		if !retry || attempt >= 20 {
			return nil, nil, nil, nil, fmt.Errorf("registry: join %s: %w", ns, err)
		}
	}
}

func tryEnter(path, group string) (*shm.Dir, *shm.Lock, *shm.Lease, *changelog, bool, error) {
	d, err := shm.OpenDir(path, &shm.DirOptions{Create: true, Group: group})
	if err != nil {
		// Not found: removed between the walk's steps.
		return nil, nil, nil, nil, errors.Is(err, shm.ErrNotFound), err
	}
	reapLock, err := d.OpenLock(reapLockName)
	if err != nil {
		d.Close()
		// Not found: the directory removed since it was opened.
		return nil, nil, nil, nil, errors.Is(err, shm.ErrNotFound) || errors.Is(err, fs.ErrNotExist), err
	}
	fail := func(retry bool, err error) (*shm.Dir, *shm.Lock, *shm.Lease, *changelog, bool, error) {
		reapLock.Close()
		d.Close()
		return nil, nil, nil, nil, retry, err
	}
	live, err := lockLive(d, reapLock)
	if err != nil {
		return fail(false, err)
	}
	if !live {
		return fail(true, errCleaned)
	}
	lease, err := d.Lease()
	if err != nil {
		return fail(false, err)
	}
	cl, err := openChangelog(d)
	if err != nil {
		return fail(false, err)
	}
	reapLock.Unlock()
	return d, reapLock, lease, cl, false, nil
}

// errCleaned says the namespace directory was removed under a process
// about to join it.
var errCleaned = errors.New("namespace removed meanwhile")

// lockLive takes the reap lock of d and reports whether d is still a
// namespace: Clean removes the lock file before it lets go of the lock,
// so a process that finds it gone holds the lock of a directory removed
// or about to be (and the lock is released again).
func lockLive(d *shm.Dir, l *shm.Lock) (bool, error) {
	if err := l.Lock(reapLockTimeout); err != nil {
		return false, err
	}
	if _, err := d.ReadFile(reapLockName, 0); err != nil {
		l.Unlock()
		if errors.Is(err, shm.ErrNotFound) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

// namespacePath returns where namespace ns lives.
func namespacePath(ns string, o *Options) (string, error) {
	root := o.Root
	if root == "" {
		def, err := shm.DefaultRoot()
		if err != nil {
			return "", fmt.Errorf("registry: %w", err)
		}
		root = def
		if o.Group != "" {
			g := o.Group
			if grp, err := user.LookupGroup(g); err == nil {
				g = grp.Name
			}
			if ValidNamespace(g) != nil {
				return "", fmt.Errorf("%w: group %q cannot name a directory", ErrInvalidName, o.Group)
			}
			root = filepath.Join(filepath.Dir(def), "shmactor-group-"+g)
		}
	}
	return filepath.Join(root, ns), nil
}

// ID returns this node's id.
func (r *Registry) ID() uint64 { return r.id }

// Self returns this node's published record.
func (r *Registry) Self() Node { return r.self }

// Namespace returns the namespace's name.
func (r *Registry) Namespace() string { return r.ns }

// Dir returns the namespace directory, for the segments of the layers
// above (which should name them with NodeFile so that reaping finds them).
func (r *Registry) Dir() *shm.Dir { return r.dir }

func (r *Registry) checkOpen() error {
	if r.closed.Load() {
		return fmt.Errorf("%w: namespace %s", ErrClosed, r.ns)
	}
	return nil
}

// ---- names ----

// checkEntry checks a name and target to record, and that the registry
// is open.
func (r *Registry) checkEntry(name, target string) error {
	if err := ValidName(name); err != nil {
		return err
	}
	if len(target) > maxField {
		return fmt.Errorf("%w: target of %d bytes, at most %d", ErrInvalidName, len(target), maxField)
	}
	return r.checkOpen()
}

// Register claims name for this node, with target (the actor id it
// stands for). Exactly one of several nodes racing for a name wins; the
// others get a *NameTakenError naming the holder. A name held by a dead
// node is reaped and taken.
func (r *Registry) Register(name, target string) error {
	if err := r.checkEntry(name, target); err != nil {
		return err
	}
	e := Entry{Name: name, Node: r.id, Target: target, Registered: time.Now()}
	file := exclusiveFile(name)
	for attempt := 0; ; attempt++ {
		err := r.dir.WriteFile(file, marshalEntry(&e))
		if err == nil {
			r.own.Lock()
			r.mine[name] = true
			r.own.Unlock()
			r.changed(file)
			return nil
		}
		if !errors.Is(err, shm.ErrExist) {
			return fmt.Errorf("registry: register %q: %w", name, err)
		}
		holder, herr := r.readEntry(file)
		switch {
		case herr != nil && errors.Is(herr, ErrNotFound):
			continue // released meanwhile: try again
		case herr != nil:
			// A record nobody can read blocks the name: the reaper
			// removes it; meanwhile the name is not ours.
			return &opError{op: fmt.Sprintf("register %q", name), err: herr}
		case holder.Node == r.id:
			return &NameTakenError{Name: name, Holder: r.id, Self: true}
		case attempt < 2 && !r.admitted(holder.Node):
			if err := r.evict(file, holder.Node); err != nil {
				return fmt.Errorf("registry: register %q: removing the claim of node %016x, not admitted: %w", name, holder.Node, err)
			}
			continue
		case attempt < 2 && !r.alive(holder.Node):
			if _, err := r.Reap(); err != nil {
				return fmt.Errorf("registry: register %q: reaping holder %016x: %w", name, holder.Node, err)
			}
			continue
		}
		return &NameTakenError{Name: name, Holder: holder.Node}
	}
}

// Unregister releases a name this node holds.
func (r *Registry) Unregister(name string) error {
	if err := ValidName(name); err != nil {
		return err
	}
	if err := r.checkOpen(); err != nil {
		return err
	}
	file := exclusiveFile(name)
	e, err := r.readEntry(file)
	if errors.Is(err, ErrNotFound) {
		return fmt.Errorf("%w: unregister %q: no such name in namespace %s", ErrNotFound, name, r.ns)
	}
	if err != nil {
		return &opError{op: fmt.Sprintf("unregister %q", name), err: err}
	}
	if e.Node != r.id {
		return fmt.Errorf("%w: unregister %q (node %016x)", ErrNotOwner, name, e.Node)
	}
	if err := r.dir.Remove(file); err != nil && !errors.Is(err, shm.ErrNotFound) {
		return fmt.Errorf("registry: unregister %q: %w", name, err)
	}
	r.own.Lock()
	delete(r.mine, name)
	r.own.Unlock()
	r.changed(file)
	return nil
}

// Subscribe adds this node as a holder of the shared name (a topic
// subscription, a queue group): many nodes may hold one shared name.
// Subscribing again is harmless.
func (r *Registry) Subscribe(name, target string) error {
	if err := r.checkEntry(name, target); err != nil {
		return err
	}
	file := sharedFile(name, r.id)
	e := Entry{Name: name, Shared: true, Node: r.id, Target: target, Registered: time.Now()}
	if err := r.dir.WriteFile(file, marshalEntry(&e)); err != nil && !errors.Is(err, shm.ErrExist) {
		return fmt.Errorf("registry: subscribe %q: %w", name, err)
	}
	r.own.Lock()
	r.mySubs[name] = true
	r.own.Unlock()
	r.changed(file)
	return nil
}

// Unsubscribe removes this node as a holder of the shared name.
func (r *Registry) Unsubscribe(name string) error {
	if err := ValidName(name); err != nil {
		return err
	}
	if err := r.checkOpen(); err != nil {
		return err
	}
	file := sharedFile(name, r.id)
	if err := r.dir.Remove(file); err != nil {
		if errors.Is(err, shm.ErrNotFound) {
			return fmt.Errorf("%w: unsubscribe %q: this node does not hold it", ErrNotFound, name)
		}
		return fmt.Errorf("registry: unsubscribe %q: %w", name, err)
	}
	r.own.Lock()
	delete(r.mySubs, name)
	r.own.Unlock()
	r.changed(file)
	return nil
}

// changed logs a change and applies it to this node's view at once.
func (r *Registry) changed(file string) {
	if err := r.cl.log(file); err != nil {
		r.log.Warn("registry: changelog", "err", err)
	}
	r.refresh(file)
}

// Sync brings the cached view up to date with every change logged in the
// namespace so far. The view otherwise follows changes asynchronously,
// within microseconds; Sync is for decisions (such as "am I the last
// holder of this shared name?") that must not act on a view a moment
// old.
func (r *Registry) Sync() error {
	if err := r.checkOpen(); err != nil {
		return err
	}
	r.catchUp()
	return nil
}

// Lookup returns the holder of an exclusive name, from the cached view; a
// name registered an instant ago and not yet seen is read from disk.
func (r *Registry) Lookup(name string) (Entry, error) {
	r.mu.RLock()
	e, ok := r.excl[name]
	r.mu.RUnlock()
	if !ok {
		if err := ValidName(name); err != nil {
			return Entry{}, err
		}
		ep, err := r.readEntry(exclusiveFile(name))
		if errors.Is(err, ErrNotFound) {
			return Entry{}, fmt.Errorf("%w: lookup %q: no such name in namespace %s", ErrNotFound, name, r.ns)
		}
		if err != nil {
			return Entry{}, &opError{op: fmt.Sprintf("lookup %q", name), err: err}
		}
		e = *ep
	}
	if !r.admitted(e.Node) {
		return Entry{}, fmt.Errorf("%w: lookup %q: held by node %016x, which this node does not admit (not in its trust store)", ErrNotFound, name, e.Node)
	}
	return e, nil
}

// admitted reports whether node is one Options.Admit admits.
func (r *Registry) admitted(node uint64) bool {
	if r.admit == nil || node == r.id {
		return true
	}
	r.admitMu.Lock()
	v, ok := r.verdicts[node]
	r.admitMu.Unlock()
	if ok {
		return v
	}
	n, err := r.Node(node)
	if err != nil {
		return false // no record (yet): not admitted, not remembered
	}
	v = r.admit(&n)
	r.admitMu.Lock()
	r.verdicts[node] = v
	r.admitMu.Unlock()
	return v
}

// admittedLocked is admitted for a caller holding r.mu (read): it
// consults the view's node records only.
func (r *Registry) admittedLocked(node uint64) bool {
	if r.admit == nil || node == r.id {
		return true
	}
	r.admitMu.Lock()
	v, ok := r.verdicts[node]
	r.admitMu.Unlock()
	if ok {
		return v
	}
	n := r.nodes[node]
	if n == nil {
		return false
	}
	v = r.admit(n)
	r.admitMu.Lock()
	r.verdicts[node] = v
	r.admitMu.Unlock()
	return v
}

// evict removes the claim file holds for node, a node not admitted,
// under the reap lock, if node still holds it.
func (r *Registry) evict(file string, node uint64) error {
	r.reapMu.Lock()
	defer r.reapMu.Unlock()
	if err := r.reapLock.Lock(reapLockTimeout); err != nil {
		return err
	}
	defer r.reapLock.Unlock()
	e, err := r.readEntry(file)
	if err != nil || e.Node != node {
		return nil // gone or changed meanwhile: try again
	}
	r.log.Warn("registry: removing a name held by a node not admitted", "namespace", r.ns, "name", e.Name, "node", hexID(node))
	if err := r.dir.Remove(file); err != nil && !errors.Is(err, shm.ErrNotFound) {
		return err
	}
	r.cl.log(file)
	return nil
}

// Holders returns the nodes holding a shared name, from the cached view.
func (r *Registry) Holders(name string) []Entry {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]Entry, 0, len(r.shared[name]))
	for _, e := range r.shared[name] {
		if r.admittedLocked(e.Node) {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b Entry) int { return compareID(a.Node, b.Node) })
	return out
}

func compareID(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Names returns every exclusive name in the cached view, sorted.
func (r *Registry) Names() []Entry {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := slices.Collect(maps.Values(r.excl))
	out = slices.DeleteFunc(out, func(e Entry) bool { return !r.admittedLocked(e.Node) })
	slices.SortFunc(out, func(a, b Entry) int { return compareStr(a.Name, b.Name) })
	return out
}

// SharedNames returns every shared name with at least one holder, sorted.
func (r *Registry) SharedNames() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []string
	for name, hs := range r.shared {
		for _, e := range hs {
			if r.admittedLocked(e.Node) {
				out = append(out, name)
				break
			}
		}
	}
	slices.Sort(out)
	return out
}

func compareStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Node returns a node's record, from the cached view or from disk.
func (r *Registry) Node(id uint64) (Node, error) {
	r.mu.RLock()
	n, ok := r.nodes[id]
	r.mu.RUnlock()
	if ok {
		return *n, nil
	}
	np, err := r.readNode(id)
	if err != nil {
		return Node{}, err
	}
	return *np, nil
}

// Nodes returns every node in the cached view, this one included.
func (r *Registry) Nodes() []Node {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]Node, 0, len(r.nodes))
	for _, n := range r.nodes {
		out = append(out, *n)
	}
	slices.SortFunc(out, func(a, b Node) int { return compareID(a.ID, b.ID) })
	return out
}

// Generation returns the changelog generation this node's view reflects;
// it grows with every change in the namespace.
func (r *Registry) Generation() uint64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.seen
}

// Watch calls fn for every change this node sees from now on, in order,
// from the registry's watcher goroutine: fn must not block for long. The
// returned function stops the calls.
func (r *Registry) Watch(fn func(Event)) (stop func()) {
	r.wmu.Lock()
	id := r.nextW
	r.nextW++
	r.watchers[id] = fn
	r.wmu.Unlock()
	return func() {
		r.wmu.Lock()
		delete(r.watchers, id)
		r.wmu.Unlock()
	}
}

func (r *Registry) emit(evs []Event) {
	if len(evs) == 0 {
		return
	}
	r.wmu.Lock()
	fns := slices.Collect(maps.Values(r.watchers))
	r.wmu.Unlock()
	for _, ev := range evs {
		for _, fn := range fns {
			fn(ev)
		}
	}
}

// ---- reading records ----

func (r *Registry) readEntry(file string) (*Entry, error) {
	b, err := r.dir.ReadFile(file, maxRecord)
	if err != nil {
		if errors.Is(err, shm.ErrNotFound) {
			return nil, ErrNotFound // the caller says what was not found
		}
		return nil, err
	}
	e, err := parseEntry(b)
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, filepath.Join(r.dir.Path(), file))
	}
	return e, nil
}

func (r *Registry) readNode(id uint64) (*Node, error) {
	b, err := r.dir.ReadFile(nodeFile(id), maxRecord)
	if err != nil {
		if errors.Is(err, shm.ErrNotFound) {
			return nil, fmt.Errorf("%w: node %016x is not in namespace %s", ErrNotFound, id, r.ns)
		}
		return nil, err
	}
	n, err := ParseNode(b)
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, filepath.Join(r.dir.Path(), nodeFile(id)))
	}
	if n.ID != id {
		return nil, fmt.Errorf("%w: record says node %016x (in %s)", ErrBadRecord, n.ID, filepath.Join(r.dir.Path(), nodeFile(id)))
	}
	return n, nil
}

// alive reports whether node id is alive; when in doubt it says yes, so
// nothing is reaped on a guess.
func (r *Registry) alive(id uint64) bool {
	if id == r.id {
		return true
	}
	pid, start := 0, uint64(0)
	if n, err := r.Node(id); err == nil {
		pid, start = n.PID, n.Start
	}
	ok, err := r.dir.Alive(id, pid, start)
	return ok || err != nil
}

// idSet remembers node ids, up to maxUnseen of them (then it starts
// again: node ids are never reused, so forgetting one costs at most a
// repeated event).
type idSet struct{ m map[uint64]struct{} }

const maxUnseen = 4096

// add reports whether id is new to the set, and adds it.
func (s *idSet) add(id uint64) bool {
	if _, ok := s.m[id]; ok {
		return false
	}
	if s.m == nil || len(s.m) >= maxUnseen {
		s.m = map[uint64]struct{}{}
	}
	s.m[id] = struct{}{}
	return true
}
