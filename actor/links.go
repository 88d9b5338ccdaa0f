package actor

import "sync"

// links are the ties between this node and others that must be undone
// when a node goes: watches of remote actors by local ones, and local
// futures waiting for a remote answer. It also remembers which local
// actors hold names.
type links struct {
	mu      sync.Mutex
	watches map[uint64]map[watchKey]struct{}
	futures map[uint64]map[string]struct{}
	names   map[string]string // local actor id → registered name
	cons    map[string]*queueConsumer
}

type watchKey struct {
	watcher string // local actor id
	watchee string // actor id on the remote node
}

func (l *links) init() {
	l.watches = map[uint64]map[watchKey]struct{}{}
	l.futures = map[uint64]map[string]struct{}{}
	l.names = map[string]string{}
	l.cons = map[string]*queueConsumer{}
}

func (l *links) keepConsumer(id string, qc *queueConsumer) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cons[id] = qc
}

func (l *links) releaseConsumer(id string) *queueConsumer {
	l.mu.Lock()
	defer l.mu.Unlock()
	qc := l.cons[id]
	delete(l.cons, id)
	return qc
}

func (l *links) watch(node uint64, watcher, watchee string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := l.watches[node]
	if m == nil {
		m = map[watchKey]struct{}{}
		l.watches[node] = m
	}
	m[watchKey{watcher, watchee}] = struct{}{}
}

func (l *links) unwatch(node uint64, watcher, watchee string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.watches[node], watchKey{watcher, watchee})
}

// watching reports whether watcher watches watchee on node.
func (l *links) watching(node uint64, watcher, watchee string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.watches[node][watchKey{watcher, watchee}]
	return ok
}

// maxFutures bounds the futures remembered per node before the table is
// swept of answered or timed-out ones.
const maxFutures = 4096

// waiting remembers a local future waiting for an answer from node.
func (l *links) waiting(node uint64, future string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := l.futures[node]
	if m == nil {
		m = map[string]struct{}{}
		l.futures[node] = m
	}
	m[future] = struct{}{}
	if len(m) > maxFutures {
		// Futures that timed out were never answered; forget the oldest
		// half rather than grow without bound. A node that dies with
		// requests outstanding past this many loses only their early
		// failure; they still time out.
		n := 0
		for k := range m {
			if n++; n > maxFutures/2 {
				break
			}
			delete(m, k)
		}
	}
}

func (l *links) answered(node uint64, future string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.futures[node], future)
}

// drop forgets node and returns what waited on it.
func (l *links) drop(node uint64) ([]watchKey, []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var ws []watchKey
	for k := range l.watches[node] {
		ws = append(ws, k)
	}
	var fs []string
	for f := range l.futures[node] {
		fs = append(fs, f)
	}
	delete(l.watches, node)
	delete(l.futures, node)
	return ws, fs
}

func (l *links) keep(id, name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.names[id] = name
}

func (l *links) release(id string) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	name, ok := l.names[id]
	delete(l.names, id)
	return name, ok
}
