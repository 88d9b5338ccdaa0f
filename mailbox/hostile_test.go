package mailbox

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shmactor/shmactor/internal/wire"
	"github.com/shmactor/shmactor/shm"
)

// shrinkSegment cuts the segment file name in dir to a body of body
// bytes and makes its header agree, as a hostile process with write
// access to the namespace can.
func shrinkSegment(t testing.TB, dir *shm.Dir, name string, body int) {
	t.Helper()
	path := filepath.Join(dir.Path(), name)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	size := shm.HeaderSize + body
	if err := f.Truncate(int64(size)); err != nil {
		t.Fatal(err)
	}
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(size))
	if _, err := f.WriteAt(b[:], 16); err != nil { // the header's size
		t.Fatal(err)
	}
}

// An out-of-line segment or a blob's whose file was cut short, with a
// header that agrees (so that it maps and validates), is an error on the
// message, not a panic of the receiver.
func TestSegmentCutShort(t *testing.T) {
	for _, tc := range []struct {
		name      string
		plaintext bool
		blob      bool
		prefix    string
	}{
		{"ool/sealed", false, false, oolPrefix},
		{"ool/plaintext", true, false, oolPrefix},
		{"blob/sealed", false, true, blobPrefix},
		{"blob/plaintext", true, true, blobPrefix},
	} {
		for _, body := range []int{20, 24, 31, 32, 100} {
			t.Run(tc.name+"/"+strings.Repeat("x", 0)+itoa(body), func(t *testing.T) {
				a, b := pair(t, tc.plaintext, shm.RingConfig{Cells: 256, CellSize: 256, MaxRecord: 4096}, 0)
				var v any = &note{Text: strings.Repeat("y", 100<<10)}
				if tc.blob {
					bl, err := a.mb.NewBlob(100 << 10)
					if err != nil {
						t.Fatal(err)
					}
					v = bl
				}
				if err := a.mb.Send(2, &Outgoing{Kind: wire.KindUser, Corr: 3, Value: v}); err != nil {
					t.Fatal(err)
				}
				names, err := a.mb.cfg.Dir.List()
				if err != nil {
					t.Fatal(err)
				}
				var seg string
				for _, n := range names {
					if strings.HasPrefix(n, tc.prefix) {
						seg = n
					}
				}
				if seg == "" {
					t.Fatalf("no %s segment in %v", tc.prefix, names)
				}
				// Keep the length word as the sender wrote it.
				shrinkSegment(t, a.mb.cfg.Dir, seg, body)
				b.mb.Start()
				m := b.expect(t, 1)[0]
				if m.Err == nil || m.Value != nil || m.Corr != 3 {
					t.Fatalf("a segment cut to a %d-byte body: value %v, corr %d, err %v", body, m.Value, m.Corr, m.Err)
				}
			})
		}
	}
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

// FuzzSegmentBody scribbles on an out-of-line or blob segment between
// its send and its receipt (bytes of the body xored, the file cut short
// with a header that agrees) and runs the receiver's read path: it must
// return the bytes sent or an error, never panic.
func FuzzSegmentBody(f *testing.F) {
	f.Add(uint8(0), uint32(0), []byte{1})                // the length word
	f.Add(uint8(1), uint32(8), []byte{0xff})             // the chunk size
	f.Add(uint8(2), uint32(16), []byte{3})               // the state word
	f.Add(uint8(3), uint32(16), []byte{1, 0, 0, 0})      // the state, blob
	f.Add(uint8(4), uint32(40), []byte{0x80})            // a chunk
	f.Add(uint8(5), uint32(4096), []byte{9})             // plaintext blob bytes
	f.Add(uint8(6), uint32(0), []byte{0, 0, 0, 0, 0, 8}) // a huge length
	f.Add(uint8(8|0), uint32(24), []byte{})              // cut short
	f.Add(uint8(8|1), uint32(4095), []byte{})
	f.Add(uint8(8|2), uint32(30), []byte{})
	f.Add(uint8(8|3), uint32(2000), []byte{})
	f.Fuzz(func(t *testing.T, mode uint8, at uint32, xor []byte) {
		plaintext, blob, cut := mode&1 != 0, mode&2 != 0, mode&8 != 0
		a, b := pair(t, plaintext, shm.RingConfig{Cells: 256, CellSize: 256, MaxRecord: 4096}, 0)
		p, err := a.mb.target(2)
		if err != nil {
			t.Fatal(err)
		}
		const size = 2*oolChunk + 100
		want := make([]byte, size)
		for i := range want {
			want[i] = byte(i * 13)
		}
		var ref []byte
		var name string
		if blob {
			bl, err := a.mb.NewBlob(size)
			if err != nil {
				t.Fatal(err)
			}
			copy(bl.Bytes(), want)
			r, s, err := bl.take(a.mb, 2)
			if err != nil {
				t.Fatal(err)
			}
			defer s.close()
			ref, name = wire.AppendRef(nil, &r), r.Segment
		} else {
			env, err := a.mb.envelope(&encoder{enc: wire.NewEncoder(types)}, &Outgoing{Kind: wire.KindUser, Value: &note{Text: string(want)}})
			if err != nil {
				t.Fatal(err)
			}
			small, _, err := a.mb.outOfLine(p, env, &Outgoing{Kind: wire.KindUser, Value: &note{}}, FailFast)
			if err != nil {
				t.Fatal(err)
			}
			_, hl, err := wire.NewDecoder(types).Header(small[4:])
			if err != nil {
				t.Fatal(err)
			}
			ref = small[4+hl:]
			r, err := wire.DecodeRef(ref)
			if err != nil {
				t.Fatal(err)
			}
			name = r.Segment
			want = append([]byte(nil), env[4:]...)
		}
		if cut {
			shrinkSegment(t, a.mb.cfg.Dir, name, int(at%(size+8192)))
		} else if len(xor) > 0 {
			kind := KindOutOfLine
			if blob {
				kind = KindBlob
			}
			seg, err := a.mb.cfg.Dir.OpenSegment(name, kind)
			if err != nil {
				t.Fatal(err)
			}
			body := seg.Body()
			for i, x := range xor {
				body[(int(at)+i)%len(body)] ^= x
			}
			seg.Close()
		}
		c := b.mb.in
		if blob {
			got, err := c.receiveBlob(1, ref)
			if err == nil {
				if !bytesEqual(got.Bytes(), want) && !plaintext {
					t.Fatalf("a sealed blob changed in its segment was delivered changed")
				}
				got.Release()
			}
			return
		}
		got, err := c.fetch(1, ref)
		if err == nil && !plaintext && !bytesEqual(got, want) {
			t.Fatalf("a sealed message changed in its segment was delivered changed")
		}
		c.closeMaps()
	})
}

func bytesEqual(a, b []byte) bool { return string(a) == string(b) }
