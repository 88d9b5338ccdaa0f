//go:build !unix

package main

import (
	"errors"
	"fmt"
	"time"
)

// cpuTime is not measured on this platform.
func cpuTime() (time.Duration, error) {
	return 0, fmt.Errorf("bench: process CPU time: %w", errors.ErrUnsupported)
}
