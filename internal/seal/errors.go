package seal

import "errors"

// Sentinel errors, wrapped with the node ids and sequence numbers involved.
var (
	// ErrAuth is returned when an envelope fails authentication: it was
	// altered, moved to another receiver, target or namespace, or sealed
	// with another key.
	ErrAuth = errors.New("seal: authentication failed")

	// ErrReplay is returned for an envelope whose sequence number was seen
	// already or is older than the replay window.
	ErrReplay = errors.New("seal: replayed or too old")

	// ErrUnknownPeer is returned for an envelope from (or to) a node whose
	// key this sealer does not have.
	ErrUnknownPeer = errors.New("seal: unknown peer")

	// ErrEpoch is returned when an envelope names a key epoch the peer is
	// not using.
	ErrEpoch = errors.New("seal: unknown key epoch")

	// ErrWrongReceiver is returned when an envelope is addressed to
	// another node.
	ErrWrongReceiver = errors.New("seal: envelope addressed to another node")

	// ErrMode is returned when a plaintext envelope reaches a sealed node,
	// or a sealed one a plaintext node.
	ErrMode = errors.New("seal: sealed/plaintext mismatch")

	// ErrUntrusted is returned when a peer's key carries no certificate
	// from an identity in the trust store.
	ErrUntrusted = errors.New("seal: untrusted peer key")

	// ErrKeyFile is returned for an identity or trust store file that is
	// missing, malformed, or not protected (wrong mode or owner).
	ErrKeyFile = errors.New("seal: bad key file")

	// ErrShort is returned for a sealed envelope too short to hold a tag.
	ErrShort = errors.New("seal: envelope too short")

	// ErrSeqOrder is returned by Seal for a sequence number that Next did
	// not hand out or that is not above the last one sealed to the node:
	// sealing it could repeat a nonce.
	ErrSeqOrder = errors.New("seal: sequence number out of order")

	// ErrOpenOnly is returned by Next and Seal of an open-only Sealer.
	ErrOpenOnly = errors.New("seal: sealer only opens")

	// ErrClosed is returned after Close.
	ErrClosed = errors.New("seal: closed")
)
