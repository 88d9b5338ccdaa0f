//go:build !unix

package mailbox

import (
	"fmt"
	"os"
	"runtime"
)

// fileLink is not available here: descriptors are not passed.
type fileLink struct{}

func (mb *Mailboxes) listenFiles() error {
	return fmt.Errorf("%w on %s", ErrFiles, runtime.GOOS)
}

func (mb *Mailboxes) sendFiles(uint64, uint64, []*os.File) error {
	return fmt.Errorf("%w on %s", ErrFiles, runtime.GOOS)
}

func (l *fileLink) drop(uint64) {}
func (l *fileLink) close()      {}
