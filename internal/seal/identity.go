package seal

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"strings"
)

// Identity is a long-term ed25519 key that vouches for a node's X25519 key.
type Identity struct {
	Name string
	key  ed25519.PrivateKey
}

// identityTag starts an identity file's single line:
//
//	shmactor-ed25519-key <name> <base64 seed>
const identityTag = "shmactor-ed25519-key"

// GenerateIdentity makes a new identity and writes it to path, which must
// not exist, with mode 0600.
func GenerateIdentity(path, name string) (*Identity, error) {
	if err := validIdentityName(name); err != nil {
		return nil, err
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("seal: generate identity: %w", err)
	}
	line := fmt.Sprintf("%s %s %s\n", identityTag, name, base64.StdEncoding.EncodeToString(priv.Seed()))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("seal: write identity %s: %w", path, err)
	}
	defer f.Close()
	if err := f.Chmod(0o600); err != nil {
		return nil, fmt.Errorf("seal: write identity %s: %w", path, err)
	}
	if _, err := f.WriteString(line); err != nil {
		return nil, fmt.Errorf("seal: write identity %s: %w", path, err)
	}
	return &Identity{Name: name, key: priv}, f.Close()
}

// LoadIdentity reads an identity file. It refuses a file that others could
// read or write (mode other than 0600) or that another user owns.
func LoadIdentity(path string) (*Identity, error) {
	b, err := readProtected(path, true)
	if err != nil {
		return nil, err
	}
	defer clear(b)
	f := strings.Fields(string(b))
	if len(f) != 3 || f[0] != identityTag {
		return nil, fmt.Errorf("%w: %s: want one line %q", ErrKeyFile, path, identityTag+" <name> <base64 seed>")
	}
	if err := validIdentityName(f[1]); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	seed, err := base64.StdEncoding.DecodeString(f[2])
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("%w: %s: the key is not %d base64 bytes", ErrKeyFile, path, ed25519.SeedSize)
	}
	defer clear(seed)
	return &Identity{Name: f[1], key: ed25519.NewKeyFromSeed(seed)}, nil
}

// PublicKey returns the identity's public key.
func (id *Identity) PublicKey() ed25519.PublicKey { return id.key.Public().(ed25519.PublicKey) }

// AuthorizedLine returns the identity's line for a trust store.
func (id *Identity) AuthorizedLine() string {
	return id.Name + " " + base64.StdEncoding.EncodeToString(id.PublicKey())
}

// Wipe zeroes the private key.
func (id *Identity) Wipe() { clear(id.key) }

// Cert is a node's X25519 key signed by an identity.
type Cert struct {
	Identity  string // the identity's name
	Signature []byte // ed25519 signature of certMessage
}

// certMessage is what an identity signs: the node's key in its namespace.
func certMessage(ns string, node uint64, epoch uint32, pub *[KeySize]byte) []byte {
	b := make([]byte, 0, 40+len(ns)+KeySize)
	b = append(b, "shmactor node key v1\x00"...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(ns)))
	b = append(b, ns...)
	b = binary.BigEndian.AppendUint64(b, node)
	b = binary.BigEndian.AppendUint32(b, epoch)
	return append(b, pub[:]...)
}

// Certify signs a node's X25519 public key for use in namespace ns.
func (id *Identity) Certify(ns string, node uint64, epoch uint32, pub [KeySize]byte) Cert {
	return Cert{Identity: id.Name, Signature: ed25519.Sign(id.key, certMessage(ns, node, epoch, &pub))}
}

// TrustStore is the set of identities a namespace accepts, in
// authorized_keys style: one "<name> <base64 ed25519 public key>" per line,
// '#' comments and blank lines allowed.
type TrustStore struct {
	keys map[string]ed25519.PublicKey
}

// ParseTrustStore reads a trust store. Errors name the line.
func ParseTrustStore(r io.Reader) (*TrustStore, error) {
	ts := &TrustStore{keys: map[string]ed25519.PublicKey{}}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			return nil, fmt.Errorf("%w: trust store line %d: want \"<name> <base64 key>\"", ErrKeyFile, n)
		}
		if err := validIdentityName(f[0]); err != nil {
			return nil, fmt.Errorf("trust store line %d: %w", n, err)
		}
		k, err := base64.StdEncoding.DecodeString(f[1])
		if err != nil || len(k) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("%w: trust store line %d: the key of %q is not %d base64 bytes", ErrKeyFile, n, f[0], ed25519.PublicKeySize)
		}
		if _, dup := ts.keys[f[0]]; dup {
			return nil, fmt.Errorf("%w: trust store line %d: %q listed twice", ErrKeyFile, n, f[0])
		}
		ts.keys[f[0]] = k
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: trust store: %v", ErrKeyFile, err)
	}
	return ts, nil
}

// LoadTrustStore reads a trust store file, refusing one that others can
// write or that another user owns.
func LoadTrustStore(path string) (*TrustStore, error) {
	b, err := readProtected(path, false)
	if err != nil {
		return nil, err
	}
	ts, err := ParseTrustStore(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return ts, nil
}

// Len returns the number of trusted identities.
func (ts *TrustStore) Len() int { return len(ts.keys) }

// Verify checks that cert is a trusted identity's signature of the node's
// key.
func (ts *TrustStore) Verify(ns string, node uint64, epoch uint32, pub [KeySize]byte, cert *Cert) error {
	if cert == nil {
		return fmt.Errorf("%w: node %x presented no certificate", ErrUntrusted, node)
	}
	k, ok := ts.keys[cert.Identity]
	if !ok {
		return fmt.Errorf("%w: node %x is certified by %q, which is not in the trust store", ErrUntrusted, node, cert.Identity)
	}
	if !ed25519.Verify(k, certMessage(ns, node, epoch, &pub), cert.Signature) {
		return fmt.Errorf("%w: node %x: %q's signature does not match its key", ErrUntrusted, node, cert.Identity)
	}
	return nil
}

func validIdentityName(name string) error {
	if name == "" || len(name) > 128 || strings.ContainsAny(name, " \t\r\n#") {
		return fmt.Errorf("%w: identity name %q: want 1 to 128 bytes without spaces or '#'", ErrKeyFile, name)
	}
	return nil
}
