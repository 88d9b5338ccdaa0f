package shm

import "fmt"

// MaxNameLen is the longest segment name accepted.
const MaxNameLen = 200

// ValidName reports whether name is acceptable as a segment name: 1 to
// MaxNameLen bytes of [A-Za-z0-9._-], not starting with '.' or '-'. Names
// never contain path separators, so they cannot escape their directory.
func ValidName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty", ErrInvalidName)
	}
	if len(name) > MaxNameLen {
		return fmt.Errorf("%w: %q is %d bytes, at most %d", ErrInvalidName, name[:32]+"...", len(name), MaxNameLen)
	}
	if name[0] == '.' || name[0] == '-' {
		return fmt.Errorf("%w: %q starts with %q", ErrInvalidName, name, name[0])
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return fmt.Errorf("%w: %q has byte %q at %d (allowed: A-Z a-z 0-9 . _ -)", ErrInvalidName, name, c, i)
		}
	}
	return nil
}
