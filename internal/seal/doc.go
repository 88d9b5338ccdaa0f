// Package seal seals shmactor envelopes from one node to another.
//
// Each node makes an X25519 key pair when it starts ([NewKeyPair]). For
// every peer it derives two keys with X25519 and HKDF-SHA256, one per
// direction, whose derivation binds the AEAD suite, the namespace, both
// node ids, both key epochs and both public keys: the key that seals A→B
// is not the key for B→A, nor for A→B in another namespace.
//
// The suite is chosen per pair: AES-256-GCM when both nodes offer it
// ([Peer].AES, from [HardwareAES]), ChaCha20-Poly1305 otherwise.
// [Sealer.Seal] encrypts an envelope's payload in place with it, with the
// encoded header as associated data: changing
// any header bit, moving the envelope to another receiver, target or
// namespace, or replaying it makes [Sealer.Open] fail. Each sender numbers
// its envelopes per receiver, and that sequence number, which the header
// carries, is the nonce: the Sealer hands numbers out once ([Sealer.Next])
// and seals them only in increasing order per receiver, across re-keying
// and re-adding a peer, so a nonce never repeats under a key. The receiver
// keeps a sliding window (RFC 6479 style) that accepts reordering inside
// the window and rejects replays and envelopes older than it.
//
// Optionally, nodes carry a certificate: their X25519 public key signed
// with a long-term ed25519 [Identity]. With a [TrustStore] (authorized_keys
// style: a name and a public key per line), a peer is accepted only with a
// certificate from a trusted identity. Without one, trust is the namespace
// directory's permissions: any process that can write the directory can
// join. docs/security.md has the threat model.
//
// Plaintext mode keeps the framing and the sequence numbers but neither
// encrypts nor authenticates; it is for trusted, maximum-speed setups and
// is never the default.
package seal
