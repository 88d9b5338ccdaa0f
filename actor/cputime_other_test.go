//go:build !unix

package actor

import (
	"errors"
	"fmt"
	"runtime"
	"time"
)

// cpuTime is not measured on this platform.
func cpuTime() (time.Duration, error) {
	return 0, fmt.Errorf("cpu time on %s: %w", runtime.GOOS, errors.ErrUnsupported)
}
