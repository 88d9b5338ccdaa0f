package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/shmactor/shmactor/actor"
	"github.com/shmactor/shmactor/registry"
	"github.com/shmactor/shmactor/topic"
)

// Messages between chat processes.
type (
	// Say is a line said in a room.
	Say struct{ From, Room, Text string }
	// Direct is a direct message.
	Direct struct{ From, Text string }
	// Who asks a user where they are; Here answers.
	Who  struct{}
	Here struct {
		Name  string
		Rooms []string
	}
)

func init() {
	for _, err := range []error{actor.RegisterMessage[*Say](), actor.RegisterMessage[*Direct](), actor.RegisterMessage[*Who](), actor.RegisterMessage[*Here]()} {
		if err != nil {
			panic(err)
		}
	}
}

const namespace = "chat"

var validName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

func main() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

// chat is one user's session.
type chat struct {
	sys  *actor.System
	name string
	out  io.Writer
	outM sync.Mutex

	mu      sync.Mutex
	rooms   map[string]*topic.Subscription
	current string
	self    *actor.PID
}

func run(args []string, in io.Reader, out, errw io.Writer) int {
	fs := flag.NewFlagSet("chat", flag.ContinueOnError)
	fs.SetOutput(errw)
	name := fs.String("name", "", "your name (letters, digits, _ and -; up to 32)")
	room := fs.String("room", "lobby", "the room to start in")
	root := fs.String("root", "", "namespace directory (default: the library's per-user location)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if !validName.MatchString(*name) {
		fmt.Fprintf(errw, "chat: -name %q: want 1 to 32 letters, digits, _ or -\n", *name)
		return 2
	}
	if !validName.MatchString(*room) {
		fmt.Fprintf(errw, "chat: -room %q: want 1 to 32 letters, digits, _ or -\n", *room)
		return 2
	}
	var opts []actor.Option
	if *root != "" {
		opts = append(opts, actor.WithRoot(*root))
	}
	sys, err := actor.Join(namespace, opts...)
	if err != nil {
		fmt.Fprintln(errw, "chat:", err)
		return 1
	}
	defer sys.Close()
	c := &chat{sys: sys, name: *name, out: out, rooms: map[string]*topic.Subscription{}}
	if c.self, err = sys.SpawnNamed(actor.PropsFromFunc(c.receive), c.name); err != nil {
		if errors.Is(err, registry.ErrNameTaken) {
			fmt.Fprintf(errw, "chat: the name %q is taken: someone with that name is online; pick another\n", c.name)
		} else {
			fmt.Fprintln(errw, "chat:", err)
		}
		return 1
	}
	// Presence: watch every user there is, and every one who comes.
	stop := sys.Registry().Watch(func(ev registry.Event) {
		if ev.Kind == registry.NameAdded && !ev.Entry.Shared && ev.Entry.Name != c.name {
			sys.Root.Send(c.self, &watchUser{name: ev.Entry.Name, announce: true})
		}
	})
	defer stop()
	for _, e := range sys.Registry().Names() {
		if e.Name != c.name {
			sys.Root.Send(c.self, &watchUser{name: e.Name})
		}
	}
	if err := c.join(*room); err != nil {
		fmt.Fprintln(errw, "chat:", err)
		return 1
	}
	c.say("chat: %s in #%s (type /help)", c.name, *room)
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		if !c.command(strings.TrimSpace(sc.Text())) {
			break
		}
	}
	return 0
}

// watchUser asks the user's actor to watch another user.
type watchUser struct {
	name     string
	announce bool
}

// receive is the user's actor.
func (c *chat) receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *Direct:
		c.say("(direct) %s: %s", m.From, m.Text)
	case *Who:
		c.mu.Lock()
		rooms := make([]string, 0, len(c.rooms))
		for r := range c.rooms {
			rooms = append(rooms, r)
		}
		c.mu.Unlock()
		sort.Strings(rooms)
		ctx.Respond(&Here{Name: c.name, Rooms: rooms})
	case *watchUser:
		pid, err := c.sys.Lookup(m.name)
		if err != nil {
			return
		}
		ctx.Watch(pid)
		if m.announce {
			c.say("%s joined", m.name)
		}
	case *actor.Terminated:
		c.say("%s left", m.Who.Id)
	}
}

// command runs one line of input; it reports false on /quit.
func (c *chat) command(line string) bool {
	if line == "" {
		return true
	}
	if !strings.HasPrefix(line, "/") {
		c.mu.Lock()
		room := c.current
		c.mu.Unlock()
		if room == "" {
			c.say("chat: you are in no room; /join one")
			return true
		}
		if err := topic.Publish(c.sys, "chat.room."+room, &Say{From: c.name, Room: room, Text: line}); err != nil {
			c.say("chat: %v", err)
		}
		return true
	}
	cmd, rest, _ := strings.Cut(line, " ")
	rest = strings.TrimSpace(rest)
	switch cmd {
	case "/quit":
		return false
	case "/join":
		if err := c.join(rest); err != nil {
			c.say("chat: %v", err)
			return true
		}
		c.say("chat: joined #%s", rest)
	case "/leave":
		c.leave(rest)
	case "/msg":
		to, text, ok := strings.Cut(rest, " ")
		if !ok || strings.TrimSpace(text) == "" {
			c.say("chat: usage: /msg <user> <text>")
			return true
		}
		pid, err := c.sys.Lookup(to)
		if err != nil {
			c.say("chat: no user %q is online", to)
			return true
		}
		if err := c.sys.Send(pid, &Direct{From: c.name, Text: strings.TrimSpace(text)}); err != nil {
			c.say("chat: %v", err)
		}
	case "/who":
		c.who()
	case "/help":
		c.say("chat: /join <room>, /leave <room>, /msg <user> <text>, /who, /quit; other lines go to your current room")
	default:
		c.say("chat: unknown command %s (try /help)", cmd)
	}
	return true
}

func (c *chat) join(room string) error {
	if !validName.MatchString(room) {
		return fmt.Errorf("room %q: want 1 to 32 letters, digits, _ or -", room)
	}
	c.mu.Lock()
	_, in := c.rooms[room]
	c.mu.Unlock()
	if !in {
		sub, err := topic.SubscribeFunc(c.sys, "chat.room."+room, func(_ string, m any) {
			if s, ok := m.(*Say); ok {
				c.say("[%s] %s: %s", s.Room, s.From, s.Text)
			}
		})
		if err != nil {
			return err
		}
		c.mu.Lock()
		c.rooms[room] = sub
		c.mu.Unlock()
	}
	c.mu.Lock()
	c.current = room
	c.mu.Unlock()
	return nil
}

func (c *chat) leave(room string) {
	c.mu.Lock()
	sub, ok := c.rooms[room]
	delete(c.rooms, room)
	if c.current == room {
		c.current = ""
		for r := range c.rooms {
			c.current = r
			break
		}
	}
	c.mu.Unlock()
	if !ok {
		c.say("chat: you are not in #%s", room)
		return
	}
	sub.Unsubscribe()
	c.say("chat: left #%s", room)
}

// who asks every user, concurrently, where they are.
func (c *chat) who() {
	names := c.sys.Registry().Names()
	var mu sync.Mutex
	var lines []string
	var wg sync.WaitGroup
	for _, e := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pid, err := c.sys.Lookup(e.Name)
			if err != nil {
				return
			}
			res, err := c.sys.Request(pid, &Who{}, time.Second)
			h, ok := res.(*Here)
			if err != nil || !ok {
				return
			}
			mu.Lock()
			lines = append(lines, fmt.Sprintf("%s (%s)", h.Name, strings.Join(h.Rooms, ", ")))
			mu.Unlock()
		}()
	}
	wg.Wait()
	slices.Sort(lines)
	c.say("online: %s", strings.Join(lines, ", "))
}

func (c *chat) say(format string, args ...any) {
	c.outM.Lock()
	defer c.outM.Unlock()
	fmt.Fprintf(c.out, format+"\n", args...)
}
