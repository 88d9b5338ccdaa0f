package topic

import (
	"fmt"

	"github.com/shmactor/shmactor/actor"
	"github.com/shmactor/shmactor/internal/topicx"
)

// For the NATS bridge (package natsbridge): publications that reach the
// plain subscribers only or one queue group only, and the queue groups a
// subject reaches.
func init() {
	topicx.Publish = func(sys *actor.System, p topicx.Publication) error {
		op := fmt.Sprintf("publish %q", p.Subject)
		if sys == nil || p.Data == nil {
			return opErr(op, fmt.Errorf("%w: nil System or message", ErrInvalidArgument))
		}
		if err := ValidSubject(p.Subject); err != nil {
			return opErr(op, err)
		}
		e, err := engineOf(sys)
		if err != nil {
			return opErr(op, err)
		}
		d := delivery{subject: p.Subject, msg: p.Data, header: p.Header, part: partPlain}
		if p.Group != "" {
			d.part, d.group = partGroup, p.Group
		}
		if _, err := e.publish(d); err != nil {
			return opErr(op, err)
		}
		return nil
	}
	topicx.Groups = func(sys *actor.System, subject string) ([]string, error) {
		e, err := engineOf(sys)
		if err != nil {
			return nil, err
		}
		var out []string
		for _, gs := range e.table().lookup(subject).groups {
			out = append(out, gs[0].group)
		}
		return out, nil
	}
}
