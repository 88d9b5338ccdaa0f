package registry

import (
	"errors"
	"fmt"
	"time"

	"github.com/shmactor/shmactor/shm"
)

// Reap removes everything dead nodes left in the namespace: their names,
// subscriptions, segments, node records and lease files, and temporary
// files of crashed creators. Reaping is serialized across the namespace by
// a lock, and a name file is removed only by its owner or by a reaper
// holding that lock, so a reaper that reads "this name is a dead node's"
// cannot then remove a live node's new claim. It returns how many dead
// nodes it reaped.
//
// The namespace's elected reaper calls Reap when it sees a node die; Join
// and Register call it too. Call it yourself after a crash you know of.
func (r *Registry) Reap() (int, error) {
	if err := r.checkOpen(); err != nil {
		return 0, err
	}
	// The flock serializes processes; reapMu serializes this process's
	// goroutines, which share one open lock file.
	r.reapMu.Lock()
	defer r.reapMu.Unlock()
	if err := r.reapLock.Lock(reapLockTimeout); err != nil {
		return 0, fmt.Errorf("registry: reap: %w", err)
	}
	defer r.reapLock.Unlock()
	files, err := r.dir.List()
	if err != nil {
		return 0, err
	}
	ids := map[uint64]bool{}
	owner := map[string]uint64{} // exclusive name file → holder
	for _, f := range files {
		if id, ok := shm.ParseLeaseName(f); ok {
			ids[id] = true
			continue
		}
		kind, id, _ := classify(f)
		switch kind {
		case fileNode, fileShared, fileOwned:
			ids[id] = true
		case fileExclusive:
			e, err := r.readEntry(f)
			if errors.Is(err, ErrBadRecord) {
				// Nobody writes a malformed record; it would block the
				// name forever. Remove it (we hold the reap lock).
				r.log.Warn("registry: removing malformed name record", "file", f, "err", err)
				r.dir.Remove(f)
				r.cl.log(f)
				continue
			}
			if err == nil {
				owner[f] = e.Node
				ids[e.Node] = true
			}
		}
	}
	reaped := 0
	for id := range ids {
		if id == r.id || r.alive(id) {
			continue
		}
		r.removeNode(id, files, owner)
		reaped++
	}
	if _, err := r.dir.RemoveStaleTemp(staleTemp); err != nil {
		return reaped, err
	}
	return reaped, nil
}

// removeNode removes a dead node's files: names first, then segments, its
// record, and its lease file last, so that a reaper that dies half-way
// leaves the lease for the next one to find. Each removal is logged; the
// watcher applies it to the view (never while the reap lock is held, so
// watch callbacks may register names).
func (r *Registry) removeNode(id uint64, files []string, owner map[string]uint64) {
	r.log.Info("registry: reaping dead node", "namespace", r.ns, "node", hexID(id))
	remove := func(f string) {
		if err := r.dir.Remove(f); err == nil || errors.Is(err, shm.ErrNotFound) {
			r.cl.log(f)
		}
	}
	for f, holder := range owner {
		if holder == id {
			remove(f)
		}
	}
	for _, f := range files {
		if kind, fid, _ := classify(f); fid == id && (kind == fileShared || kind == fileOwned) {
			if _, isLease := shm.ParseLeaseName(f); !isLease {
				remove(f)
			}
		}
	}
	remove(nodeFile(id))
	if ok, err := r.dir.RemoveLease(id); err != nil || !ok {
		r.log.Warn("registry: lease of dead node not removed", "node", hexID(id), "err", err)
	}
}

// ---- watching ----

// watch keeps the view current: it sleeps on the changelog's doorbell,
// applies what changed, and, as the namespace's reaper, checks that nodes
// are alive.
func (r *Registry) watch() {
	defer close(r.done)
	nextProbe := time.Now().Add(r.interval)
	nextRescan := time.Now().Add(rescanEvery)
	for !r.closed.Load() {
		r.cl.seg.Do(func() error {
			r.cl.bell.Wait(func() (bool, time.Duration) {
				g := r.cl.gen.Load()
				return r.closed.Load() || g != r.Generation(), max(time.Until(nextProbe), time.Millisecond)
			})
			return nil
		})
		if r.closed.Load() {
			return
		}
		r.catchUp()
		if now := time.Now(); !now.Before(nextProbe) {
			r.probe()
			nextProbe = now.Add(r.interval)
		}
		if now := time.Now(); !now.Before(nextRescan) {
			r.rescan()
			nextRescan = now.Add(rescanEvery)
		}
	}
}

// catchUp applies the changes logged since the view's generation, or
// rescans when the log no longer has them.
func (r *Registry) catchUp() {
	g, err := r.cl.generation()
	if err != nil {
		r.log.Warn("registry: changelog unreadable", "err", err)
		return
	}
	from := r.Generation()
	if g == from {
		return
	}
	if g < from || g-from > logSlots {
		r.rescan()
		return
	}
	for s := from + 1; s <= g; s++ {
		file, ok := r.cl.entry(s)
		for try := 0; !ok && try < 20; try++ {
			time.Sleep(50 * time.Microsecond) // a writer between its two steps
			file, ok = r.cl.entry(s)
		}
		if !ok {
			r.rescan()
			return
		}
		r.refresh(file)
		r.mu.Lock()
		r.seen = max(r.seen, s)
		r.mu.Unlock()
	}
}

// refresh re-reads one file and updates the view.
func (r *Registry) refresh(file string) {
	r.refreshMu.Lock()
	evs := r.apply(file)
	r.refreshMu.Unlock()
	r.emit(evs)
}

// apply re-reads one file, updates the view and returns the events.
func (r *Registry) apply(file string) (evs []Event) {
	kind, id, name := classify(file)
	switch kind {
	case fileNode:
		n, err := r.readNode(id)
		r.mu.Lock()
		old, had := r.nodes[id]
		switch {
		case err == nil:
			r.nodes[id] = n
			if !had {
				evs = append(evs, Event{Kind: NodeJoined, Node: *n})
			}
		case errors.Is(err, ErrNotFound):
			if had {
				delete(r.nodes, id)
				r.unseen.add(id) // later entries naming its record report nothing more
				evs = append(evs, Event{Kind: NodeLeft, Node: *old})
			} else if id != r.id && r.unseen.add(id) {
				// It joined and left between two looks: it may have
				// talked to this node all the same, which must let go
				// of what it holds for it.
				evs = append(evs, Event{Kind: NodeLeft, Node: Node{ID: id}})
			}
		default:
			r.log.Warn("registry: unreadable node record", "file", file, "err", err)
		}
		r.mu.Unlock()
	case fileExclusive:
		e, err := r.readEntry(file)
		r.mu.Lock()
		old, had := r.excl[name]
		switch {
		case err == nil && e.Name == name:
			if !had || old != *e {
				r.excl[name] = *e
				if had {
					evs = append(evs, Event{Kind: NameRemoved, Entry: old})
				}
				evs = append(evs, Event{Kind: NameAdded, Entry: *e})
			}
		case err == nil || errors.Is(err, ErrNotFound):
			if had {
				delete(r.excl, name)
				evs = append(evs, Event{Kind: NameRemoved, Entry: old})
			}
		default:
			r.log.Warn("registry: unreadable name record", "file", file, "err", err)
		}
		r.mu.Unlock()
	case fileShared:
		e, err := r.readEntry(file)
		r.mu.Lock()
		old, had := r.shared[name][id]
		switch {
		case err == nil && e.Name == name && e.Node == id && e.Shared:
			if !had || old != *e {
				if r.shared[name] == nil {
					r.shared[name] = map[uint64]Entry{}
				}
				r.shared[name][id] = *e
				evs = append(evs, Event{Kind: NameAdded, Entry: *e})
			}
		case err == nil || errors.Is(err, ErrNotFound):
			if had {
				delete(r.shared[name], id)
				if len(r.shared[name]) == 0 {
					delete(r.shared, name)
				}
				evs = append(evs, Event{Kind: NameRemoved, Entry: old})
			}
		default:
			r.log.Warn("registry: unreadable subscription record", "file", file, "err", err)
		}
		r.mu.Unlock()
	}
	return evs
}

// rescan rebuilds the view from the directory and emits the differences.
func (r *Registry) rescan() {
	g, err := r.cl.generation() // before listing: later changes are logged after g
	if err != nil {
		return
	}
	files, err := r.dir.List()
	if err != nil {
		r.log.Warn("registry: rescan", "err", err)
		return
	}
	present := map[string]bool{}
	for _, f := range files {
		present[f] = true
		r.refresh(f)
	}
	// Whatever the view holds that the directory no longer has is gone.
	r.mu.RLock()
	var gone []string
	for id := range r.nodes {
		if !present[nodeFile(id)] {
			gone = append(gone, nodeFile(id))
		}
	}
	for name := range r.excl {
		if !present[exclusiveFile(name)] {
			gone = append(gone, exclusiveFile(name))
		}
	}
	for name, holders := range r.shared {
		for id := range holders {
			if !present[sharedFile(name, id)] {
				gone = append(gone, sharedFile(name, id))
			}
		}
	}
	r.mu.RUnlock()
	for _, f := range gone {
		r.refresh(f)
	}
	r.mu.Lock()
	r.seen = max(r.seen, g)
	r.mu.Unlock()
}

// probe makes this node the namespace's reaper when no live node is, and
// as the reaper checks that every node it knows is alive.
func (r *Registry) probe() {
	if !r.isReaper {
		ok, err := r.reaperLock.TryLock()
		if err != nil || !ok {
			return
		}
		r.isReaper = true
		r.log.Debug("registry: this node is now the namespace's reaper", "node", hexID(r.id))
	}
	for _, n := range r.Nodes() {
		if n.ID != r.id && !r.alive(n.ID) {
			if _, err := r.Reap(); err != nil {
				r.log.Warn("registry: reap", "err", err)
			}
			return
		}
	}
}

// Close leaves the namespace: it stops watching, removes this node's
// names, subscriptions, segments and record, and releases its lease.
// Closing twice is harmless.
func (r *Registry) Close() error {
	if !r.closed.CompareAndSwap(false, true) {
		return nil
	}
	r.cl.seg.Do(func() error {
		r.cl.bell.RingAlways(1 << 30)
		return nil
	})
	<-r.done
	r.reaperLock.Close()
	r.own.Lock()
	var files []string
	for name := range r.mine {
		files = append(files, exclusiveFile(name))
	}
	for name := range r.mySubs {
		files = append(files, sharedFile(name, r.id))
	}
	r.own.Unlock()
	if all, err := r.dir.List(); err == nil {
		for _, f := range all {
			if kind, id, _ := classify(f); kind == fileOwned && id == r.id {
				if _, isLease := shm.ParseLeaseName(f); !isLease {
					files = append(files, f)
				}
			}
		}
	}
	files = append(files, nodeFile(r.id))
	var first error
	for _, f := range files {
		if err := r.dir.Remove(f); err != nil && !errors.Is(err, shm.ErrNotFound) && first == nil {
			first = err
		}
		r.cl.log(f)
	}
	r.reapLock.Close()
	r.cl.seg.Close()
	if err := r.dir.Close(); err != nil && first == nil {
		first = err
	}
	return first
}
