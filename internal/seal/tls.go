package seal

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"time"
)

// TLS between machines, from the same identities and trust store that
// admit nodes to a namespace: each node makes a fresh ed25519 key for
// TLS and a certificate for it signed by its identity (the identity's
// name is the issuer); a peer accepts the certificate when a trusted
// identity of that name signed it. No certificate authority is involved:
// the trust store is the list of issuers.

// tlsValidity is how long a node's TLS certificate is valid.
const tlsValidity = 365 * 24 * time.Hour

// TLSCertificate makes a fresh TLS key and a certificate for it signed
// by id, valid from an hour ago for a year.
func (id *Identity) TLSCertificate() (tls.Certificate, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("seal: TLS key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("seal: TLS certificate: %w", err)
	}
	now := time.Now()
	leaf := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: id.Name},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(tlsValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	issuer := &x509.Certificate{Subject: pkix.Name{CommonName: id.Name}, PublicKey: id.PublicKey()}
	der, err := x509.CreateCertificate(rand.Reader, leaf, issuer, pub, id.key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("seal: TLS certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv}, nil
}

// VerifyTLS checks a peer's TLS certificate chain (as
// tls.Config.VerifyPeerCertificate gets it): its first certificate must
// be current and signed with ed25519 by the trusted identity its issuer
// names. It returns an error wrapping ErrUntrusted otherwise.
func (ts *TrustStore) VerifyTLS(rawCerts [][]byte, _ [][]*x509.Certificate) error {
	if len(rawCerts) == 0 {
		return fmt.Errorf("%w: the peer presented no TLS certificate", ErrUntrusted)
	}
	c, err := x509.ParseCertificate(rawCerts[0])
	if err != nil {
		return fmt.Errorf("%w: the peer's TLS certificate: %v", ErrUntrusted, err)
	}
	name := c.Issuer.CommonName
	k, ok := ts.keys[name]
	if !ok {
		return fmt.Errorf("%w: the peer's TLS certificate is issued by %q, which is not in the trust store", ErrUntrusted, name)
	}
	if c.SignatureAlgorithm != x509.PureEd25519 || !ed25519.Verify(k, c.RawTBSCertificate, c.Signature) {
		return fmt.Errorf("%w: the peer's TLS certificate is not signed by %q's key", ErrUntrusted, name)
	}
	if now := time.Now(); now.Before(c.NotBefore) || now.After(c.NotAfter) {
		return fmt.Errorf("%w: the peer's TLS certificate from %q is valid from %v to %v, not now", ErrUntrusted, name, c.NotBefore, c.NotAfter)
	}
	return nil
}

// MutualTLS returns a TLS configuration, for both ends of a connection,
// that presents cert and accepts a peer whose certificate ts accepts
// (VerifyTLS): TLS 1.3, a client certificate required.
func MutualTLS(cert tls.Certificate, ts *TrustStore) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAnyClientCert,
		// The chain is checked by VerifyPeerCertificate against the
		// trust store; there is no CA for the standard check to use.
		InsecureSkipVerify:    true, //nolint:gosec
		VerifyPeerCertificate: ts.VerifyTLS,
		MinVersion:            tls.VersionTLS13,
	}
}
