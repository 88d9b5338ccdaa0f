//go:build !unix

package seal

import (
	"fmt"
	"os"
)

// readProtected reads a key file. Outside unix, file protection comes from
// the user's profile ACLs; only the file type is checked.
func readProtected(path string, secret bool) ([]byte, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKeyFile, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrKeyFile, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKeyFile, err)
	}
	return b, nil
}
