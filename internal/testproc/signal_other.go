//go:build !unix

package testproc

import "errors"

// Stop is not available on this platform.
func (p *Proc) Stop() error { return errors.ErrUnsupported }

// Cont is not available on this platform.
func (p *Proc) Cont() error { return errors.ErrUnsupported }
