package backup

import (
	"bytes"
	"context"
	"io"
	"testing"
)

// FuzzReader checks that no input makes NewReader or Read panic, and that
// whatever is not a valid backup ends in an error, not io.EOF.
func FuzzReader(f *testing.F) {
	root := newTestRootKey(f, goldenRoot)
	for _, n := range []int{0, 1, small, 3*small + 5} {
		file := seal(f, root, small, randomBytes(f, n, uint64(n)), 0)
		f.Add(file)
		f.Add(file[:len(file)-1])
	}
	f.Add(seal(f, root, chunkSize, []byte("hello"), 0))
	f.Add([]byte(magic))
	f.Add([]byte(magic + "\x01\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, size := range []int{small, chunkSize} {
			r, _, err := newReader(context.Background(), bytes.NewReader(data), root, size)
			if err != nil {
				continue
			}
			got, err := io.ReadAll(r)
			if err == nil {
				// Accepted: it must be a valid backup, so the documented
				// decoder agrees byte for byte.
				if _, want := specDecode(t, root, data, size); !bytes.Equal(got, want) {
					t.Fatal("Reader and the documented format disagree")
				}
			}
		}
	})
}

// FuzzRoundTrip writes arbitrary plaintext in arbitrary pieces and reads it
// back.
func FuzzRoundTrip(f *testing.F) {
	root := newTestRootKey(f, goldenRoot)
	f.Add([]byte(""), uint8(0))
	f.Add(bytes.Repeat([]byte("a"), 3*small), uint8(small))
	f.Fuzz(func(t *testing.T, plaintext []byte, piece uint8) {
		file := seal(t, root, small, plaintext, int(piece))
		got, _, err := open(t, root, small, file)
		if err != nil || !bytes.Equal(got, plaintext) {
			t.Fatalf("read back %d bytes, %v; want %d", len(got), err, len(plaintext))
		}
	})
}
