//go:build unix

package testproc

import "syscall"

// Stop pauses the child with SIGSTOP.
func (p *Proc) Stop() error { return p.Signal(syscall.SIGSTOP) }

// Cont resumes a child paused with Stop.
func (p *Proc) Cont() error { return p.Signal(syscall.SIGCONT) }
