package registry

import (
	"encoding/base32"
	"fmt"
	"strconv"
	"strings"
)

// MaxNameLen is the longest registered name.
const MaxNameLen = 120

// ValidName checks a name for an actor or a subscription: 1 to MaxNameLen
// bytes of printable ASCII without spaces, backslashes or double quotes,
// and not "." or "..". Names never become paths: on disk they are
// base32-encoded, so no name can reach outside the namespace directory.
func ValidName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty name", ErrInvalidName)
	case len(name) > MaxNameLen:
		return fmt.Errorf("%w: %q... is %d bytes, at most %d", ErrInvalidName, name[:32], len(name), MaxNameLen)
	case name == "." || name == "..":
		return fmt.Errorf("%w: %q", ErrInvalidName, name)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c <= ' ' || c > '~' || c == '\\' || c == '"' {
			return fmt.Errorf("%w: %q has byte %q at %d (printable ASCII without space, \\ or \")", ErrInvalidName, name, c, i)
		}
	}
	return nil
}

// ValidNamespace checks a namespace name: 1 to 64 bytes of [A-Za-z0-9._-],
// not starting with '.' or '-'.
func ValidNamespace(ns string) error {
	if ns == "" || len(ns) > 64 || ns[0] == '.' || ns[0] == '-' {
		return fmt.Errorf("%w: namespace %q: want 1 to 64 bytes of A-Z a-z 0-9 . _ -, not starting with . or -", ErrInvalidName, ns)
	}
	for i := 0; i < len(ns); i++ {
		c := ns[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%w: namespace %q has byte %q at %d (A-Z a-z 0-9 . _ -)", ErrInvalidName, ns, c, i)
		}
	}
	return nil
}

// File names in the namespace directory.
var b32 = base32.HexEncoding.WithPadding(base32.NoPadding)

const (
	nodePrefix      = "node-"
	exclusivePrefix = "x."
	sharedPrefix    = "s."
	changelogName   = "registry"
	reapLockName    = "reap.lock"
	reaperLockName  = "reaper.lock"
)

func hexID(id uint64) string { return fmt.Sprintf("%016x", id) }

func nodeFile(id uint64) string { return nodePrefix + hexID(id) }

func exclusiveFile(name string) string {
	return exclusivePrefix + strings.ToLower(b32.EncodeToString([]byte(name)))
}

func sharedFile(name string, node uint64) string {
	return sharedPrefix + strings.ToLower(b32.EncodeToString([]byte(name))) + "." + hexID(node)
}

// NodeFile returns the name of a file that belongs to node id, for
// segments a node creates (its inbox, for one): "<prefix>-<16 hex digits>".
// Reaping a dead node removes every such file.
func NodeFile(prefix string, id uint64) string { return prefix + "-" + hexID(id) }

// parseID parses 16 hex digits.
func parseID(s string) (uint64, bool) {
	if len(s) != 16 {
		return 0, false
	}
	id, err := strconv.ParseUint(s, 16, 64)
	return id, err == nil
}

// fileKind classifies a file in the namespace directory.
type fileKind int

const (
	fileOther fileKind = iota
	fileNode
	fileExclusive
	fileShared
	fileOwned // "<prefix>-<node>": a segment of the node
)

// classify returns what a file is and, where the name says, its node and
// registered name.
func classify(file string) (kind fileKind, node uint64, name string) {
	switch {
	case strings.HasPrefix(file, nodePrefix):
		if id, ok := parseID(file[len(nodePrefix):]); ok {
			return fileNode, id, ""
		}
	case strings.HasPrefix(file, exclusivePrefix):
		if n, err := b32.DecodeString(strings.ToUpper(file[len(exclusivePrefix):])); err == nil && ValidName(string(n)) == nil {
			return fileExclusive, 0, string(n)
		}
	case strings.HasPrefix(file, sharedPrefix):
		enc, id, ok := strings.Cut(file[len(sharedPrefix):], ".")
		if !ok {
			break
		}
		nid, ok := parseID(id)
		n, err := b32.DecodeString(strings.ToUpper(enc))
		if ok && err == nil && ValidName(string(n)) == nil {
			return fileShared, nid, string(n)
		}
	default:
		if i := strings.LastIndexByte(file, '-'); i > 0 {
			if id, ok := parseID(file[i+1:]); ok {
				return fileOwned, id, ""
			}
		}
	}
	return fileOther, 0, ""
}
