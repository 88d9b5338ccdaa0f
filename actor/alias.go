package actor

import (
	proto "github.com/asynkron/protoactor-go/actor"
)

// Types re-exported from protoactor-go, so the common path needs only this
// package. They are aliases: values mix freely with protoactor-go's own.
type (
	// PID identifies an actor, in this process or another.
	PID = proto.PID
	// Context is what an actor sees while it handles a message.
	Context = proto.Context
	// Props says how to create an actor.
	Props = proto.Props
	// Actor handles messages.
	Actor = proto.Actor
	// ReceiveFunc adapts a function to an Actor.
	ReceiveFunc = proto.ReceiveFunc
	// Producer makes an Actor.
	Producer = proto.Producer
	// Future is the pending answer of a request.
	Future = proto.Future
	// RootContext sends and spawns from outside any actor.
	RootContext = proto.RootContext
	// ActorSystem is protoactor-go's actor system, embedded in System.
	ActorSystem = proto.ActorSystem
	// MessageEnvelope carries a message with its sender and headers.
	MessageEnvelope = proto.MessageEnvelope

	// Lifecycle and system messages.
	Started            = proto.Started
	Stopping           = proto.Stopping
	Stopped            = proto.Stopped
	Restarting         = proto.Restarting
	Terminated         = proto.Terminated
	TerminatedReason   = proto.TerminatedReason
	Watch              = proto.Watch
	Unwatch            = proto.Unwatch
	Stop               = proto.Stop
	PoisonPill         = proto.PoisonPill
	DeadLetterResponse = proto.DeadLetterResponse
	DeadLetterEvent    = proto.DeadLetterEvent
	ReceiveTimeout     = proto.ReceiveTimeout

	// Supervision, protoactor's, for local children and for children
	// spawned SupervisedBy a parent in another process alike.
	SupervisorStrategy = proto.SupervisorStrategy
	Directive          = proto.Directive
	DeciderFunc        = proto.DeciderFunc
	Failure            = proto.Failure
)

// A supervisor strategy's decisions about a failed child.
const (
	ResumeDirective   = proto.ResumeDirective   // keep the actor and its state; go on with the next message
	RestartDirective  = proto.RestartDirective  // a new actor from its Props; its mailbox is kept
	StopDirective     = proto.StopDirective     // stop the actor
	EscalateDirective = proto.EscalateDirective // fail the parent itself, for its own parent to decide
)

// Why an actor terminated.
const (
	// TerminatedStopped: the actor stopped.
	TerminatedStopped = proto.TerminatedReason_Stopped
	// TerminatedNodeGone: the actor's node left or died.
	TerminatedNodeGone = proto.TerminatedReason_AddressTerminated
	// TerminatedNotFound: there was no such actor.
	TerminatedNotFound = proto.TerminatedReason_NotFound
)

var (
	// PropsFromFunc makes Props for an actor that is a function.
	PropsFromFunc = proto.PropsFromFunc
	// PropsFromProducer makes Props for actors made by a Producer.
	PropsFromProducer = proto.PropsFromProducer
	// WithSupervisor sets the strategy with which actors made from
	// Props supervise their children.
	WithSupervisor = proto.WithSupervisor
	// NewOneForOneStrategy decides about each failed child alone; more
	// than maxNrOfRetries restarts within withinDuration stop it.
	NewOneForOneStrategy = proto.NewOneForOneStrategy
	// NewAllForOneStrategy applies its decision about one failed child to
	// all the children.
	NewAllForOneStrategy = proto.NewAllForOneStrategy
	// NewExponentialBackoffStrategy restarts a failed child after a wait
	// of initialBackoff times its failures within backoffWindow, plus up
	// to 500 ns of noise (protoactor-go's: the wait grows linearly).
	NewExponentialBackoffStrategy = proto.NewExponentialBackoffStrategy
	// DefaultSupervisorStrategy is protoactor's default: one for one,
	// restart, at most 10 restarts within 10 s.
	DefaultSupervisorStrategy = proto.DefaultSupervisorStrategy
	// NewPID makes a PID.
	NewPID = proto.NewPID
	// WithMailbox sets the mailbox of actors made from Props, as in
	// props.Configure(actor.WithMailbox(actor.Bounded(1000))).
	WithMailbox = proto.WithMailbox
	// Bounded makes mailboxes that hold at most size messages; a sender
	// to a full one waits.
	Bounded = proto.Bounded
	// ErrTimeout is a future's error when no answer came in time.
	ErrTimeout = proto.ErrTimeout
	// ErrDeadLetter is a future's error when the request could not be
	// delivered: no such actor, or its node is gone.
	ErrDeadLetter = proto.ErrDeadLetter
)
