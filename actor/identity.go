package actor

import (
	"fmt"

	"github.com/shmactor/shmactor/internal/seal"
)

// GenerateIdentity makes a new ed25519 identity called name (letters,
// digits, '.', '_', '-') and writes it to path, which must not exist,
// with mode 0600. It returns the identity's line for a trust store
// ("<name> <base64 public key>"), which is not secret. A
// node joined WithIdentity(path) has its key certified by it, and a
// node joined WithTrustStore admits only nodes certified by identities
// whose lines its trust store holds (see docs/security.md).
func GenerateIdentity(path, name string) (trustLine string, err error) {
	id, err := seal.GenerateIdentity(path, name)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	defer id.Wipe()
	return id.AuthorizedLine(), nil
}

// IdentityTrustLine loads the identity at path (a file of mode 0600
// owned by the caller) and returns its line for a trust store.
func IdentityTrustLine(path string) (string, error) {
	id, err := seal.LoadIdentity(path)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	defer id.Wipe()
	return id.AuthorizedLine(), nil
}
