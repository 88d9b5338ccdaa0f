package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"runtime"

	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/sys/cpu"
)

// Suite is the AEAD that seals between two nodes.
type Suite uint8

const (
	// ChaCha20Poly1305 is ChaCha20-Poly1305 (RFC 8439), from
	// golang.org/x/crypto: fast in software, the choice when either CPU
	// lacks AES instructions.
	ChaCha20Poly1305 Suite = iota
	// AES256GCM is AES-256-GCM from the standard library: several times
	// faster than ChaCha20-Poly1305 per byte where the CPU has AES and
	// carry-less multiplication instructions.
	AES256GCM
)

// String returns the suite's name.
func (s Suite) String() string {
	if s == AES256GCM {
		return "aes-256-gcm"
	}
	return "chacha20-poly1305"
}

// HardwareAES reports whether this CPU runs AES-GCM in hardware: AES and
// carry-less multiplication instructions, the test crypto/tls makes
// (hasAESGCMHardwareSupport in crypto/tls/cipher_suites.go) when it
// prefers AES-GCM over ChaCha20-Poly1305.
var HardwareAES = hardwareAES()

func hardwareAES() bool {
	switch runtime.GOARCH {
	case "amd64", "386":
		return cpu.X86.HasAES && cpu.X86.HasPCLMULQDQ
	case "arm64":
		return cpu.ARM64.HasAES && cpu.ARM64.HasPMULL
	case "s390x":
		return cpu.S390X.HasAES && cpu.S390X.HasAESCTR && cpu.S390X.HasGHASH
	case "ppc64", "ppc64le":
		return true // POWER8 and later, the Go port's minimum, have the instructions
	}
	return false
}

// pairSuite is the suite of a pair: AES-256-GCM when both nodes offer it,
// ChaCha20-Poly1305 otherwise. Both sides compute the same choice from
// what each published, and the choice is bound into the keys (keyInfo),
// so two nodes that disagree cannot open each other's envelopes.
func pairSuite(mine, theirs bool) Suite {
	if mine && theirs {
		return AES256GCM
	}
	return ChaCha20Poly1305
}

// newAEAD returns the suite's AEAD with key; both take 32-byte keys and
// 12-byte nonces and add a 16-byte tag.
func newAEAD(s Suite, key []byte) (cipher.AEAD, error) {
	if s == AES256GCM {
		b, err := aes.NewCipher(key)
		if err != nil {
			return nil, err
		}
		return cipher.NewGCM(b)
	}
	return chacha20poly1305.New(key)
}

// NewAEAD returns suite s's AEAD keyed with key (KeySize bytes), for
// layers that seal a channel of their own with a key they agreed over
// sealed envelopes (streams do).
func NewAEAD(s Suite, key []byte) (cipher.AEAD, error) { return newAEAD(s, key) }

// LocalSuite is the suite for a channel between two processes of this
// machine: AES-256-GCM when the CPU runs it in hardware.
func LocalSuite() Suite { return pairSuite(HardwareAES, HardwareAES) }
