package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/shmactor/shmactor/actor"
	"github.com/shmactor/shmactor/internal/wire"
	"github.com/shmactor/shmactor/topic"
)

// joinFlags are the flags of the commands that join a namespace.
type joinFlags struct {
	root, identity, trust string
	plaintext             bool
	typ                   string
	timeout               time.Duration
}

func (j *joinFlags) define(fs *flag.FlagSet) {
	fs.StringVar(&j.root, "root", "", "the namespaces' root directory (default: the platform's)")
	fs.BoolVar(&j.plaintext, "plaintext", false, "join a plaintext namespace")
	fs.StringVar(&j.identity, "identity", "", "join with this identity file")
	fs.StringVar(&j.trust, "trust", "", "admit only nodes certified by this trust store")
	fs.StringVar(&j.typ, "type", "string", `the payload's type: "string", "bytes", or a registered type's name (DATA is then a JSON object of its fields)`)
	fs.DurationVar(&j.timeout, "timeout", 5*time.Second, "req: how long to wait for the answer")
}

func (j *joinFlags) join(ns string) (*actor.System, error) {
	opts := []actor.Option{}
	if j.root != "" {
		opts = append(opts, actor.WithRoot(j.root))
	}
	if j.plaintext {
		opts = append(opts, actor.WithPlaintext())
	}
	if j.identity != "" {
		opts = append(opts, actor.WithIdentity(j.identity))
	}
	if j.trust != "" {
		opts = append(opts, actor.WithTrustStore(j.trust))
	}
	return actor.Join(ns, opts...)
}

// payload makes the message for DATA: a string, bytes, or a registered
// type's fields from JSON (msgpack-encoded as the type's own encoding
// does: a map from field names to values).
func (j *joinFlags) payload(data string) (any, error) {
	switch j.typ {
	case "string":
		return data, nil
	case "bytes":
		return []byte(data), nil
	}
	var fields map[string]any
	if err := json.Unmarshal([]byte(data), &fields); err != nil {
		return nil, fmt.Errorf("%w: -type %s takes a JSON object of the type's fields: %v", errUsage, j.typ, err)
	}
	b, err := msgpack.Marshal(fields)
	if err != nil {
		return nil, err
	}
	return &wire.RawMessage{Type: j.typ, Data: b}, nil
}

// show prints a received message: its subject or sender, and its value
// as JSON (a message of a type this command does not know, as its type
// name and the msgpack decoded generically).
func show(w io.Writer, what string, v any) {
	switch m := v.(type) {
	case string:
		fmt.Fprintf(w, "%s %q\n", what, m)
		return
	case []byte:
		fmt.Fprintf(w, "%s %q\n", what, m)
		return
	case *wire.RawMessage:
		var x any
		if err := msgpack.Unmarshal(m.Data, &x); err == nil {
			b, _ := json.Marshal(x)
			fmt.Fprintf(w, "%s %s %s\n", what, m.Type, b)
			return
		}
		fmt.Fprintf(w, "%s %s (%d bytes)\n", what, m.Type, len(m.Data))
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		fmt.Fprintf(w, "%s %T\n", what, v)
		return
	}
	fmt.Fprintf(w, "%s %T %s\n", what, v, b)
}

// sendArgs parses the flags and the NAMESPACE TO DATA arguments of pub
// and req, makes the payload and joins the namespace.
func sendArgs(name, usage string, args []string) (sys *actor.System, to string, msg any, j joinFlags, err error) {
	fs, err := flags(name, args, j.define)
	if err != nil {
		return nil, "", nil, j, err
	}
	if fs.NArg() != 3 {
		return nil, "", nil, j, fmt.Errorf("%w: %s", errUsage, usage)
	}
	if msg, err = j.payload(fs.Arg(2)); err != nil {
		return nil, "", nil, j, err
	}
	if sys, err = j.join(fs.Arg(0)); err != nil {
		return nil, "", nil, j, err
	}
	return sys, fs.Arg(1), msg, j, nil
}

func cmdPub(args []string, w io.Writer) error {
	sys, to, msg, _, err := sendArgs("pub", "pub NAMESPACE SUBJECT DATA", args)
	if err != nil {
		return err
	}
	defer sys.Close()
	if err := topic.Publish(sys, to, msg); err != nil {
		return err
	}
	fmt.Fprintf(w, "published on %s\n", to)
	return nil
}

func cmdSub(args []string, w io.Writer) error {
	var j joinFlags
	var count int
	fs, err := flags("sub", args, func(fs *flag.FlagSet) {
		j.define(fs)
		fs.IntVar(&count, "count", 0, "stop after this many messages (0: until interrupted)")
	})
	if err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return fmt.Errorf("%w: sub NAMESPACE PATTERN", errUsage)
	}
	sys, err := j.join(fs.Arg(0))
	if err != nil {
		return err
	}
	defer sys.Close()
	ch := make(chan *topic.Msg, 1024)
	sub, err := topic.ChanSubscribe(sys, fs.Arg(1), ch)
	if err != nil {
		return err
	}
	defer sub.Unsubscribe()
	fmt.Fprintf(w, "subscribed to %s\n", fs.Arg(1))
	if f, ok := w.(*os.File); ok {
		f.Sync()
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt)
	defer signal.Stop(stop)
	for n := 0; count == 0 || n < count; n++ {
		select {
		case m := <-ch:
			show(w, m.Subject, m.Data)
		case <-stop:
			return nil
		}
	}
	return nil
}

func cmdReq(args []string, w io.Writer) error {
	sys, to, msg, j, err := sendArgs("req", "req NAMESPACE ACTOR-NAME DATA", args)
	if err != nil {
		return err
	}
	defer sys.Close()
	pid, err := sys.Lookup(to)
	if err != nil {
		return err
	}
	res, err := sys.Request(pid, msg, j.timeout)
	if err != nil {
		return err
	}
	show(w, "answer", res)
	return nil
}
