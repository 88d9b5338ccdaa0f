package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

// peer is a child process of the bench binary playing a role.
type peer struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines *bufio.Scanner
	err   strings.Builder
}

func startPeer(role string, env ...string) (*peer, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	p := &peer{cmd: exec.Command(exe)}
	p.cmd.Env = append(append(os.Environ(), childEnv+"="+role), env...)
	p.cmd.Stderr = &p.err
	if p.in, err = p.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p.lines = bufio.NewScanner(out)
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	return p, nil
}

// startReady starts a peer and waits for its "ready" line, whose rest it
// returns; a peer that fails to get ready is killed.
func startReady(role string, env ...string) (*peer, string, error) {
	p, err := startPeer(role, env...)
	if err != nil {
		return nil, "", err
	}
	rest, err := p.expect("ready")
	if err != nil {
		p.kill()
		return nil, "", err
	}
	return p, rest, nil
}

// expect reads lines until one starts with prefix.
func (p *peer) expect(prefix string) (string, error) {
	for p.lines.Scan() {
		if rest, ok := strings.CutPrefix(p.lines.Text(), prefix); ok {
			return strings.TrimSpace(rest), nil
		}
	}
	p.cmd.Wait()
	return "", fmt.Errorf("peer exited before %q: %s", prefix, p.err.String())
}

func (p *peer) send(line string) error {
	_, err := io.WriteString(p.in, line+"\n")
	return err
}

// wait waits for the peer to exit.
func (p *peer) wait() error {
	p.in.Close()
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("peer: %v: %s", err, p.err.String())
		}
		return nil
	case <-time.After(time.Minute):
		p.cmd.Process.Kill()
		return fmt.Errorf("peer did not exit")
	}
}

func (p *peer) kill() {
	p.cmd.Process.Kill()
	p.cmd.Wait()
}

var stdin = bufio.NewReader(os.Stdin)

// readLine reads one line from stdin (the parent's go-ahead); "" at the
// end of input.
func readLine() string {
	s, _ := stdin.ReadString('\n')
	return strings.TrimSpace(s)
}
