package shm

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"inbox-1", true}, {"a", true}, {"A.b_c-9", true}, {strings.Repeat("x", MaxNameLen), true},
		{"", false}, {".hidden", false}, {"-flag", false}, {"a/b", false}, {"..", false},
		{"a b", false}, {"naïve", false}, {"a\x00b", false}, {strings.Repeat("x", MaxNameLen+1), false},
	} {
		err := ValidName(tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("ValidName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidName) {
			t.Errorf("ValidName(%q) = %v, want ErrInvalidName", tc.name, err)
		}
	}
}

func TestSegmentCreateOpen(t *testing.T) {
	d := openTestDir(t)
	s, err := d.CreateSegment("seg", KindUser+1, 10000, func(body []byte) error {
		copy(body, "hello")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := d.CreateSegment("seg", KindUser+1, 100, nil); !errors.Is(err, ErrExist) {
		t.Fatalf("second create: %v, want ErrExist", err)
	}
	o, err := d.OpenSegment("seg", KindUser+1)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if string(o.Body()[:5]) != "hello" || len(o.Body()) < 10000 || o.CreatorPID() != os.Getpid() {
		t.Fatalf("opened body %q len %d pid %d", o.Body()[:5], len(o.Body()), o.CreatorPID())
	}
	w1, _ := s.Word64(64)
	w2, err := o.Word64(64)
	if err != nil {
		t.Fatal(err)
	}
	w1.Store(42)
	if w2.Add(1) != 43 || w1.Load() != 43 {
		t.Fatal("word not shared between mappings")
	}
	if _, err := o.Word64(3); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("misaligned word: %v", err)
	}
	if _, err := o.Word32(len(o.Body())); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("out of range word: %v", err)
	}
	if _, err := d.OpenSegment("seg", KindRing); !errors.Is(err, ErrKind) {
		t.Fatalf("open with wrong kind: %v, want ErrKind", err)
	}
	if _, err := d.OpenSegment("missing", KindUser); !errors.Is(err, ErrNotFound) {
		t.Fatalf("open missing: %v, want ErrNotFound", err)
	}
	if _, err := d.OpenSegment("../x", KindUser); !errors.Is(err, ErrInvalidName) {
		t.Fatalf("open ../x: %v, want ErrInvalidName", err)
	}
	names, err := d.List()
	if err != nil || len(names) != 1 || names[0] != "seg" {
		t.Fatalf("List = %v, %v", names, err)
	}
	if err := s.Unlink(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.OpenSegment("seg", KindUser+1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("open after unlink: %v", err)
	}
}

// A header that does not check out is refused with the error that names
// what is wrong.
func TestSegmentHeaderValidation(t *testing.T) {
	good := func() []byte {
		b := make([]byte, 2*HeaderSize)
		copy(b, "SHMACTOR")
		binary.LittleEndian.PutUint32(b[hdrVersion:], LayoutVersion)
		binary.LittleEndian.PutUint32(b[hdrKind:], uint32(KindUser))
		binary.LittleEndian.PutUint64(b[hdrSize:], uint64(len(b)))
		binary.LittleEndian.PutUint64(b[hdrBodyOff:], HeaderSize)
		return b
	}
	for _, tc := range []struct {
		name  string
		edit  func([]byte) []byte
		want  error
		match string
	}{
		{"good", func(b []byte) []byte { return b }, nil, ""},
		{"short", func(b []byte) []byte { return b[:100] }, ErrTruncated, "smaller than"},
		{"not ready", func(b []byte) []byte { copy(b, make([]byte, 8)); return b }, ErrNotReady, ""},
		{"magic", func(b []byte) []byte { b[0] = 'X'; return b }, ErrBadMagic, ""},
		{"version", func(b []byte) []byte { b[hdrVersion] = 9; return b }, ErrVersion, "version 9"},
		{"kind", func(b []byte) []byte { binary.LittleEndian.PutUint32(b[hdrKind:], 7); return b }, ErrKind, "kind 7"},
		{"size larger", func(b []byte) []byte { return b[:HeaderSize+100] }, ErrTruncated, "header says 8192"},
		{"size smaller", func(b []byte) []byte { return append(b, make([]byte, 4096)...) }, ErrCorrupt, "file has 12288"},
		{"body offset", func(b []byte) []byte { b[hdrBodyOff] = 1; return b }, ErrCorrupt, "body offset"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := openTestDir(t)
			path := filepath.Join(d.Path(), "seg")
			if err := os.WriteFile(path, tc.edit(good()), 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := d.OpenSegment("seg", KindUser)
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				s.Close()
				return
			}
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.match) {
				t.Fatalf("got %v, want %v mentioning %q", err, tc.want, tc.match)
			}
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("error %q does not name the path", err)
			}
		})
	}
}

// Truncating a segment under a reader makes its next operation fail with
// ErrFault (the kernel's SIGBUS turned into an error), never a crash.
func TestRingTruncatedUnderReader(t *testing.T) {
	d := openTestDir(t)
	w := newTestRing(t, d, RingConfig{Cells: 1024})
	for i := range 100 {
		if err := w.TryPush(makeRecord(1, uint32(i), 100)); err != nil {
			t.Fatal(err)
		}
	}
	r, err := OpenRing(d, "ring")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := os.Truncate(filepath.Join(d.Path(), "ring"), HeaderSize+pageSize); err != nil {
		t.Fatal(err)
	}
	_, err = r.TryPop(nil)
	if !errors.Is(err, ErrFault) {
		t.Fatalf("pop from truncated ring: %v, want ErrFault", err)
	}
	if _, err := r.TryPop(nil); !errors.Is(err, ErrFault) {
		t.Fatalf("second pop: %v, want ErrFault (handle stays unusable)", err)
	}
	if err := r.Close(); err != nil && !errors.Is(err, ErrFault) {
		t.Fatalf("close: %v", err)
	}
	if _, err := OpenRing(d, "ring"); !errors.Is(err, ErrTruncated) {
		t.Fatalf("open truncated ring: %v, want ErrTruncated", err)
	}
}
