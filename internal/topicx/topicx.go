package topicx

import "github.com/shmactor/shmactor/actor"

// Publication is a publication for part of the subscribers.
type Publication struct {
	Subject string
	Data    any
	Header  map[string]string // may use the library's reserved keys
	// Group, when set, sends it to that queue group only (one member);
	// otherwise it goes to the plain subscribers only, no queue group.
	Group string
}

var (
	// Publish publishes p to the plain subscribers, or to p.Group.
	Publish func(sys *actor.System, p Publication) error
	// Groups returns the queue groups with members that a publication on
	// subject goes to.
	Groups func(sys *actor.System, subject string) ([]string, error)
)
