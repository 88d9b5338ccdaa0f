package actor

import (
	"fmt"
	"strings"

	proto "github.com/asynkron/protoactor-go/actor"
)

// installRootSpawn makes Root.SpawnNamed SpawnNamed, unless local is set
// (WithLocalRootNames); s.spawnRoot keeps protoactor's spawning, for
// SpawnNamed itself.
//
// Typed out of habit, protoactor's own Root.SpawnNamed would make a name
// only this process knows: a Lookup anywhere else fails, silently
// different from what the caller meant. A spawn middleware on the
// System's Root sends every spawn under a name the caller chose to
// SpawnNamed, which claims the name in the namespace registry. Spawns
// under ids protoactor makes (Root.Spawn, "$12"; Root.SpawnPrefix,
// "worker$12") contain '$' and stay local, as do children spawned from an
// actor's context.
//
// Actors spawned from Root locally get the pump dispatcher too (unless
// their Props name a dispatcher of their own): a message from another
// process to one of them that is idle is handled on the inbox pump, as
// for SpawnNamed's actors (see pumpDispatcher).
func (s *System) installRootSpawn(local bool) {
	s.spawnRoot = s.Root.Copy()
	s.Root.WithSpawnMiddleware(func(proto.SpawnFunc) proto.SpawnFunc {
		return func(sys *proto.ActorSystem, id string, props *Props, parent proto.SpawnerContext) (*PID, error) {
			root := s.spawnRoot
			if rc, ok := parent.(*proto.RootContext); ok && rc != s.Root {
				// A copy of Root (WithGuardian, say): protoactor's chain
				// ends in a spawn from Root itself, which would drop what
				// the copy adds; spawn from the copy, without the chain.
				root = rc.Copy().WithSpawnMiddleware()
			}
			// Before the registry is joined, only protoactor-go's remote
			// spawns (its "activator" and "EndpointSupervisor"): local.
			if local || strings.Contains(id, "$") || s.reg == nil {
				return root.SpawnNamed(s.onPump(props), id)
			}
			return s.spawnNamed(root, props, id)
		}
	})
}

// checkSpawn checks what SpawnNamed is given, before the name is
// claimed. (The registry checks the name.)
func (s *System) checkSpawn(props *Props, name string) error {
	switch {
	case s.closed.Load():
		return fmt.Errorf("%w: spawn %q", ErrClosed, name)
	case props == nil:
		return fmt.Errorf("%w: spawn %q: nil Props", ErrInvalidArgument, name)
	}
	return nil
}
