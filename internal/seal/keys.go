package seal

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"

	"golang.org/x/crypto/curve25519"
	"golang.org/x/crypto/hkdf"
)

// KeySize is the size of X25519 keys and of the derived pairwise keys.
const KeySize = 32

// KeyPair is a node's X25519 key pair for one key epoch.
type KeyPair struct {
	Public  [KeySize]byte
	Epoch   uint32
	private [KeySize]byte
}

// NewKeyPair makes a key pair from the system's random source.
func NewKeyPair(epoch uint32) (*KeyPair, error) {
	k := &KeyPair{Epoch: epoch}
	if _, err := io.ReadFull(rand.Reader, k.private[:]); err != nil {
		return nil, fmt.Errorf("seal: new key pair: %w", err)
	}
	pub, err := curve25519.X25519(k.private[:], curve25519.Basepoint)
	if err != nil {
		return nil, fmt.Errorf("seal: new key pair: %w", err)
	}
	copy(k.Public[:], pub)
	return k, nil
}

// Wipe zeroes the private key.
func (k *KeyPair) Wipe() { clear(k.private[:]) }

// keyInfo is the HKDF info of the key that seals from → to: it binds the
// protocol, the AEAD suite, the namespace, both nodes, both epochs and
// both public keys, in the direction of travel.
func keyInfo(ns string, suite Suite, from, to uint64, fromEpoch, toEpoch uint32, fromPub, toPub *[KeySize]byte) []byte {
	b := make([]byte, 0, 48+len(ns)+2*8+2*4+2*KeySize)
	b = append(b, "shmactor seal v2\x00"...)
	b = append(b, suite.String()...)
	b = append(b, 0)
	b = binary.BigEndian.AppendUint32(b, uint32(len(ns)))
	b = append(b, ns...)
	b = binary.BigEndian.AppendUint64(b, from)
	b = binary.BigEndian.AppendUint64(b, to)
	b = binary.BigEndian.AppendUint32(b, fromEpoch)
	b = binary.BigEndian.AppendUint32(b, toEpoch)
	b = append(b, fromPub[:]...)
	return append(b, toPub[:]...)
}

// pairKeys derives the two keys between me and a peer: send seals me→peer,
// recv opens peer→me.
func pairKeys(ns string, suite Suite, me uint64, mine *KeyPair, peer uint64, peerPub *[KeySize]byte, peerEpoch uint32) (send, recv [KeySize]byte, err error) {
	shared, err := curve25519.X25519(mine.private[:], peerPub[:])
	if err != nil {
		// X25519 refuses low-order points (an all-zero shared secret).
		return send, recv, fmt.Errorf("%w: peer %x public key: %v", ErrUntrusted, peer, err)
	}
	defer clear(shared)
	derive := func(out *[KeySize]byte, info []byte) error {
		_, err := io.ReadFull(hkdf.New(sha256.New, shared, nil, info), out[:])
		return err
	}
	if err = derive(&send, keyInfo(ns, suite, me, peer, mine.Epoch, peerEpoch, &mine.Public, peerPub)); err != nil {
		return send, recv, err
	}
	err = derive(&recv, keyInfo(ns, suite, peer, me, peerEpoch, mine.Epoch, peerPub, &mine.Public))
	return send, recv, err
}

// KeyPairFrom rebuilds a key pair from its private key (a key handed over
// by another holder of a shared key).
func KeyPairFrom(private []byte, epoch uint32) (*KeyPair, error) {
	if len(private) != KeySize {
		return nil, fmt.Errorf("seal: private key of %d bytes, want %d", len(private), KeySize)
	}
	k := &KeyPair{Epoch: epoch}
	copy(k.private[:], private)
	pub, err := curve25519.X25519(k.private[:], curve25519.Basepoint)
	if err != nil {
		k.Wipe()
		return nil, fmt.Errorf("seal: key pair: %w", err)
	}
	copy(k.Public[:], pub)
	return k, nil
}

// PrivateBytes returns a copy of the private key, to hand a shared key to
// another holder over a sealed channel. Wipe the copy after use.
func (k *KeyPair) PrivateBytes() []byte { return append([]byte(nil), k.private[:]...) }
