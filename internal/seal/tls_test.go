package seal

import (
	"crypto/tls"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
)

// tlsPair makes identities a and b and a trust store listing only a.
func tlsPair(t *testing.T) (a, b *Identity, ts *TrustStore) {
	t.Helper()
	dir := t.TempDir()
	a, err := GenerateIdentity(filepath.Join(dir, "a"), "a")
	if err != nil {
		t.Fatal(err)
	}
	b, err = GenerateIdentity(filepath.Join(dir, "b"), "b")
	if err != nil {
		t.Fatal(err)
	}
	ts, err = ParseTrustStore(strings.NewReader(a.AuthorizedLine() + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	return a, b, ts
}

// handshake runs a TLS handshake between a client presenting client's
// certificate and a server presenting server's, both trusting ts, and
// returns the client's and the server's errors.
func handshake(t *testing.T, client, server *Identity, ts *TrustStore) (error, error) {
	t.Helper()
	cc, err := client.TLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	sc, err := server.TLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		s, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		conn := tls.Server(s, MutualTLS(sc, ts))
		err = conn.Handshake()
		if err == nil {
			// TLS 1.3: the client's certificate is checked as the
			// server reads; a byte makes it read.
			_, err = conn.Read(make([]byte, 1))
		}
		s.Close()
		done <- err
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	conn := tls.Client(c, MutualTLS(cc, ts))
	cerr := conn.Handshake()
	if cerr == nil {
		_, cerr = conn.Write([]byte{1})
	}
	c.Close()
	return cerr, <-done
}

// Mutual TLS from identities: a peer whose certificate a trusted
// identity signed is accepted, one signed by an identity the trust store
// does not list is refused, by either end.
func TestMutualTLS(t *testing.T) {
	a, b, ts := tlsPair(t)
	for _, tc := range []struct {
		name           string
		client, server *Identity
		ok             bool
	}{
		{"both trusted", a, a, true},
		{"untrusted client", b, a, false},
		{"untrusted server", a, b, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cerr, serr := handshake(t, tc.client, tc.server, ts)
			if tc.ok {
				if cerr != nil || serr != nil {
					t.Fatalf("client %v, server %v", cerr, serr)
				}
				return
			}
			if cerr == nil && serr == nil {
				t.Fatal("the untrusted peer was accepted")
			}
			if !strings.Contains(errText(cerr)+errText(serr), `"b"`) {
				t.Fatalf("the refusal does not name the identity: client %v, server %v", cerr, serr)
			}
		})
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// VerifyTLS refuses what is not a trusted identity's current
// certificate, saying why.
func TestVerifyTLS(t *testing.T) {
	a, b, ts := tlsPair(t)
	ca, err := a.TLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	cb, err := b.TLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	if err := ts.VerifyTLS(ca.Certificate, nil); err != nil {
		t.Fatalf("a's certificate: %v", err)
	}
	forged := append([]byte(nil), ca.Certificate[0]...)
	forged[len(forged)-1] ^= 1 // the signature's last byte
	for name, raw := range map[string][][]byte{
		"none":      nil,
		"garbage":   {[]byte("not a certificate")},
		"untrusted": cb.Certificate,
		"forged":    {forged},
	} {
		t.Run(name, func(t *testing.T) {
			if err := ts.VerifyTLS(raw, nil); !errors.Is(err, ErrUntrusted) {
				t.Fatalf("%v, want ErrUntrusted", err)
			}
		})
	}
}

// The bytes of a peer's certificate are parsed; none makes VerifyTLS
// panic.
func FuzzVerifyTLS(f *testing.F) {
	dir := f.TempDir()
	a, err := GenerateIdentity(filepath.Join(dir, "a"), "a")
	if err != nil {
		f.Fatal(err)
	}
	ts, err := ParseTrustStore(strings.NewReader(a.AuthorizedLine() + "\n"))
	if err != nil {
		f.Fatal(err)
	}
	c, err := a.TLSCertificate()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(c.Certificate[0])
	f.Add([]byte{})
	f.Add([]byte{0x30, 0x82, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = ts.VerifyTLS([][]byte{b}, nil)
	})
}
