package topic

import (
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/shmactor/shmactor/registry"
)

// How subscriptions appear in the namespace registry. A node holds the
// shared name "topic/<hash>" for each pattern (and queue group) it has
// subscribers for, whatever their number; the entry's target says what it
// stands for: "p <pattern>" for plain subscribers, "q <group> <pattern>"
// for members of a queue group. The hash keeps any pattern (long, or not
// ASCII) within the registry's name rules. A queue group is a work queue
// of package actor named "topic.<hash>".
const (
	namePrefix  = "topic/"
	queuePrefix = "topic."
	maxCache    = 4096 // subjects remembered per routing table
)

var nameB32 = base32.HexEncoding.WithPadding(base32.NoPadding)

// regName returns the registry name and target of a subscription.
func regName(pattern, group string) (name, target string) {
	target = "p " + pattern
	if group != "" {
		target = "q " + group + " " + pattern
	}
	sum := sha256.Sum256([]byte(target))
	return namePrefix + strings.ToLower(nameB32.EncodeToString(sum[:16])), target
}

// queueName returns the work queue of a queue group.
func queueName(name string) string { return queuePrefix + strings.TrimPrefix(name, namePrefix) }

// parseTarget decodes a registry entry's target (read from shared memory:
// hostile input) into a pattern and a queue group ("" for none).
func parseTarget(target string) (pattern, group string, err error) {
	kind, rest, ok := strings.Cut(target, " ")
	switch {
	case !ok:
		return "", "", fmt.Errorf("%w: subscription record %.40q has no kind", ErrInvalidSubject, target)
	case kind == "p":
		pattern = rest
	case kind == "q":
		if group, pattern, ok = strings.Cut(rest, " "); !ok {
			return "", "", fmt.Errorf("%w: queue subscription record %.40q has no pattern", ErrInvalidSubject, target)
		}
		if err := ValidGroup(group); err != nil {
			return "", "", err
		}
	default:
		return "", "", fmt.Errorf("%w: subscription record %.40q of unknown kind %.8q", ErrInvalidSubject, target, kind)
	}
	if err := ValidPattern(pattern); err != nil {
		return "", "", err
	}
	return pattern, group, nil
}

// route is where a publication on one subject goes beyond this node.
type route struct {
	nodes  []uint64     // nodes with plain subscribers, once each
	groups [][]groupSub // per queue group with members: its matching patterns' queues
}

// pick returns the work queue of one of a group's matching patterns,
// chosen at random in proportion to their members: each publication
// goes to one member of the group, as in NATS, whatever patterns its
// members subscribed with, and every member has the same chance.
func pick(subs []groupSub) string {
	if len(subs) == 1 {
		return subs[0].queue
	}
	total := 0
	for _, g := range subs {
		total += g.members
	}
	n := rand.IntN(max(total, 1))
	for _, g := range subs {
		if n -= g.members; n < 0 {
			return g.queue
		}
	}
	return subs[len(subs)-1].queue
}

// remoteSub is a pattern some other node has plain subscribers for.
type remoteSub struct {
	pattern string
	node    uint64
}

// groupSub is a queue group with members somewhere (this node included).
type groupSub struct {
	group, pattern, queue string
	members               int
}

// routeTable is the routing of publications as of one registry
// generation (and one generation of this node's own subscriptions).
type routeTable struct {
	gen, lgen uint64
	plain     []remoteSub
	groups    []groupSub
	cache     sync.Map // subject → *route
	cached    atomic.Int32
}

// buildRoutes reads the registry's view.
func buildRoutes(reg *registry.Registry, self uint64, gen, lgen uint64, warn func(string, ...any)) *routeTable {
	t := &routeTable{gen: gen, lgen: lgen}
	for _, name := range reg.SharedNames() {
		if !strings.HasPrefix(name, namePrefix) {
			continue
		}
		members := 0
		var gs groupSub
		for _, h := range reg.Holders(name) {
			pattern, group, err := parseTarget(h.Target)
			if err == nil {
				if want, _ := regName(pattern, group); want != name {
					err = fmt.Errorf("%w: subscription record %q does not match its name", ErrInvalidSubject, name)
				}
			}
			if err != nil {
				warn("topic: bad subscription record ignored", "node", fmt.Sprintf("%016x", h.Node), "err", err)
				continue
			}
			if group == "" {
				if h.Node != self {
					t.plain = append(t.plain, remoteSub{pattern: pattern, node: h.Node})
				}
				continue
			}
			members++
			gs = groupSub{group: group, pattern: pattern, queue: queueName(name)}
		}
		if members > 0 {
			gs.members = members
			t.groups = append(t.groups, gs)
		}
	}
	return t
}

var noRoute = &route{}

// only returns the part of r that goes to queue group group.
func (r *route) only(group string) *route {
	for _, gs := range r.groups {
		if gs[0].group == group {
			return &route{groups: [][]groupSub{gs}}
		}
	}
	return noRoute
}

// lookup returns the route of subject.
func (t *routeTable) lookup(subject string) *route {
	if r, ok := t.cache.Load(subject); ok {
		return r.(*route)
	}
	r := &route{}
	for _, s := range t.plain {
		if Match(s.pattern, subject) && !containsNode(r.nodes, s.node) {
			r.nodes = append(r.nodes, s.node)
		}
	}
	for _, g := range t.groups {
		if !Match(g.pattern, subject) {
			continue
		}
		i := slices.IndexFunc(r.groups, func(gs []groupSub) bool { return gs[0].group == g.group })
		if i < 0 {
			r.groups = append(r.groups, []groupSub{g})
		} else {
			r.groups[i] = append(r.groups[i], g)
		}
	}
	if len(r.nodes) == 0 && len(r.groups) == 0 {
		r = noRoute
	}
	if t.cached.Load() < maxCache {
		if _, loaded := t.cache.LoadOrStore(subject, r); !loaded {
			t.cached.Add(1)
		}
	}
	return r
}

func containsNode(nodes []uint64, n uint64) bool {
	for _, x := range nodes {
		if x == n {
			return true
		}
	}
	return false
}

// localTable is this node's plain subscriptions, copied on change.
type localTable struct {
	subs   []*Subscription
	cache  sync.Map // subject → []*Subscription
	cached atomic.Int32
}

func (t *localTable) lookup(subject string) []*Subscription {
	if len(t.subs) == 0 {
		return nil
	}
	if v, ok := t.cache.Load(subject); ok {
		return v.([]*Subscription)
	}
	var out []*Subscription
	for _, s := range t.subs {
		if Match(s.pattern, subject) {
			out = append(out, s)
		}
	}
	if t.cached.Load() < maxCache {
		if _, loaded := t.cache.LoadOrStore(subject, out); !loaded {
			t.cached.Add(1)
		}
	}
	return out
}
