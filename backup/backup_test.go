package backup

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/keygate/keygate"
)

var update = flag.Bool("update", false, "rewrite testdata/v1.backup")

func TestRoundTrip(t *testing.T) {
	const k = chunkSize
	tests := []struct {
		name  string
		size  int
		piece int // write size; 0: one write
	}{
		{"empty", 0, 0},
		{"one byte", 1, 0},
		{"chunk minus one", k - 1, 0},
		{"one chunk", k, 0},
		{"chunk plus one", k + 1, 0},
		{"two chunks", 2 * k, 0},
		{"several MiB", 5<<20 + 12345, 0},
		{"several MiB in odd writes", 5<<20 + 12345, 7919},
		{"chunk plus one in byte writes", k + 1, 1},
	}
	root := randomRootKey(t)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plaintext := randomBytes(t, tt.size, uint64(i))
			file := seal(t, root, chunkSize, plaintext, tt.piece)

			chunks := max(1, (tt.size+k-1)/k)
			if want := headerLen(t, file) + tt.size + chunks*tagSize; len(file) != want {
				t.Errorf("file is %d bytes, want %d (%d chunks)", len(file), want, chunks)
			}
			got, h, err := open(t, root, chunkSize, file)
			if err != nil {
				t.Fatalf("reading: %v", err)
			}
			if !bytes.Equal(got, plaintext) {
				t.Fatalf("plaintext differs: got %d bytes, want %d", len(got), tt.size)
			}
			if !h.CreatedAt.Equal(testHeader.CreatedAt) || h.KeygateVersion != testHeader.KeygateVersion ||
				h.Store != testHeader.Store || h.Extra["schema_version"] != "7" {
				t.Errorf("header = %+v, want %+v", h, testHeader)
			}
			// The decoder written from the package documentation agrees.
			meta, spec := specDecode(t, root, file, chunkSize)
			if !bytes.Equal(spec, plaintext) || !bytes.Equal(meta, mustJSON(t, testHeader)) {
				t.Error("the documented format decodes to something else")
			}
			if tt.size > 2*k {
				return
			}
			// Reads of every shape, from a source that returns one byte at a time.
			r, _, err := NewReader(context.Background(), iotest.OneByteReader(bytes.NewReader(file)), root)
			if err != nil {
				t.Fatal(err)
			}
			if err := iotest.TestReader(r, plaintext); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestSpecFile reads files built from the documentation, not by Writer.
func TestSpecFile(t *testing.T) {
	root := randomRootKey(t)
	key := randomBytes(t, 32, 1)
	prefix := randomBytes(t, 7, 2)
	full := randomBytes(t, chunkSize, 3)
	meta := mustJSON(t, testHeader)
	tests := []struct {
		name    string
		meta    []byte
		fileKey []byte
		chunks  [][]byte
		wantErr error
	}{
		{"empty", meta, key, [][]byte{{}}, nil},
		{"two chunks", meta, key, [][]byte{full, []byte("tail")}, nil},
		{"unknown metadata fields are ignored", []byte(`{"store":"sqlite","from_the_future":1}`), key, [][]byte{[]byte("x")}, nil},
		{"empty last chunk after a full one", meta, key, [][]byte{full, {}}, ErrDamaged},
		{"short chunk before the last", meta, key, [][]byte{full[:10], []byte("tail")}, ErrDamaged},
		{"metadata not JSON", []byte("not json"), key, [][]byte{{}}, ErrDamaged},
		{"file key too short", meta, key[:16], [][]byte{{}}, ErrDamaged},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := specEncode(t, root, tt.meta, tt.fileKey, prefix, tt.chunks)
			got, _, err := open(t, root, chunkSize, file)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := bytes.Join(tt.chunks, nil); !bytes.Equal(got, want) {
				t.Errorf("got %d bytes, want %d", len(got), len(want))
			}
		})
	}
}

// goldenRoot is the root key of testdata/v1.backup.
var goldenRoot = []byte("keygate backup golden root key!!")

func goldenPlaintext(tb testing.TB) []byte {
	return randomBytes(tb, chunkSize+100, 42)
}

// TestGolden reads a file written by format version 1, so that a later
// keygate still restores old backups.
func TestGolden(t *testing.T) {
	root := newTestRootKey(t, goldenRoot)
	path := filepath.Join("testdata", "v1.backup")
	if *update {
		if err := os.WriteFile(path, seal(t, root, chunkSize, goldenPlaintext(t), 0), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got, h, err := open(t, root, chunkSize, file)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, goldenPlaintext(t)) {
		t.Error("plaintext differs")
	}
	if !h.CreatedAt.Equal(testHeader.CreatedAt) || h.Store != "sqlite" || h.KeygateVersion != "v1.2.3" {
		t.Errorf("header = %+v", h)
	}
}

// small is the chunk size of the tamper tests: many chunks in a few bytes.
const small = 16

func TestFlipEveryByte(t *testing.T) {
	root := randomRootKey(t)
	tests := []struct {
		name      string
		size      int // chunk size
		plaintext int
		positions func(file []byte) []int // nil: every byte
	}{
		{"small chunks, short last chunk", small, 3*small + 5, nil},
		{"small chunks, full last chunk", small, 3 * small, nil},
		{"small chunks, empty", small, 0, nil},
		{"real chunks, header and chunk edges", chunkSize, 2*chunkSize + 100, func(file []byte) []int {
			var pos []int
			for i := range headerLen(t, file) {
				pos = append(pos, i)
			}
			b := chunkBounds(t, file, chunkSize)
			for _, start := range b[:len(b)-1] {
				pos = append(pos, start, start+1, start+chunkSize/2)
			}
			for _, end := range b[1:] {
				pos = append(pos, end-tagSize-1, end-tagSize, end-1)
			}
			return slices.DeleteFunc(pos, func(p int) bool { return p >= len(file) })
		}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plaintext := randomBytes(t, tt.plaintext, uint64(i))
			file := seal(t, root, tt.size, plaintext, 0)
			positions := make([]int, len(file))
			for i := range positions {
				positions[i] = i
			}
			if tt.positions != nil {
				positions = tt.positions(file)
			}
			hdr := headerLen(t, file)
			for _, pos := range positions {
				for _, mask := range []byte{0x01, 0x80} {
					want := ErrDamaged
					switch {
					case pos < len(magic):
						want = ErrNotBackup
					case pos == len(magic):
						want = ErrVersion
					}
					bad := bytes.Clone(file)
					bad[pos] ^= mask
					got, _, err := open(t, root, tt.size, bad)
					if !errors.Is(err, want) {
						t.Fatalf("byte %d ^ %#x: err = %v, want %v", pos, mask, err, want)
					}
					// Only chunks before the damaged one may have been returned.
					if allowed := max(0, (pos-hdr)/(tt.size+tagSize)*tt.size); len(got) > allowed {
						t.Fatalf("byte %d ^ %#x: %d bytes of plaintext returned, want at most %d", pos, mask, len(got), allowed)
					}
				}
			}
		})
	}
}

func TestTruncateEverywhere(t *testing.T) {
	root := randomRootKey(t)
	tests := []struct {
		name      string
		plaintext int
	}{
		{"short last chunk", 3*small + 5},
		{"full last chunk", 3 * small},
		{"one chunk", small},
		{"empty", 0},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := seal(t, root, small, randomBytes(t, tt.plaintext, uint64(i)), 0)
			boundaries := map[int]bool{}
			for _, b := range chunkBounds(t, file, small) {
				boundaries[b] = true
			}
			for cut := range len(file) {
				_, _, err := open(t, root, small, file[:cut])
				switch {
				case cut == 0:
					if !errors.Is(err, ErrNotBackup) {
						t.Fatalf("cut at 0: err = %v, want ErrNotBackup", err)
					}
				case boundaries[cut] || cut < headerLen(t, file):
					// Cut between chunks or inside the header: known to be truncated.
					if !errors.Is(err, ErrTruncated) || !errors.Is(err, ErrDamaged) {
						t.Fatalf("cut at %d: err = %v, want ErrTruncated", cut, err)
					}
				default:
					if !errors.Is(err, ErrDamaged) {
						t.Fatalf("cut at %d: err = %v, want ErrDamaged", cut, err)
					}
				}
			}
		})
	}
}

func TestAppend(t *testing.T) {
	root := randomRootKey(t)
	for _, plaintext := range []int{0, small - 1, small, 3 * small, 3*small + 5} {
		file := seal(t, root, small, randomBytes(t, plaintext, 9), 0)
		b := chunkBounds(t, file, small)
		lastChunk := file[b[len(b)-2]:]
		for _, extra := range [][]byte{{0}, []byte("x"), bytes.Repeat([]byte{0}, small), bytes.Repeat([]byte("y"), small+tagSize), bytes.Repeat([]byte("z"), 100), lastChunk} {
			t.Run(fmt.Sprintf("%d bytes plus %d", plaintext, len(extra)), func(t *testing.T) {
				_, _, err := open(t, root, small, append(bytes.Clone(file), extra...))
				if !errors.Is(err, ErrDamaged) {
					t.Fatalf("err = %v, want ErrDamaged", err)
				}
			})
		}
	}
}

func TestMoveChunks(t *testing.T) {
	root := randomRootKey(t)
	plaintext := randomBytes(t, 4*small, 5) // four full chunks
	file := seal(t, root, small, plaintext, 0)
	other := seal(t, root, small, plaintext, 0) // same key and plaintext, another file key
	b := chunkBounds(t, file, small)
	head, chunks := file[:b[0]], [][]byte{}
	for i := range len(b) - 1 {
		chunks = append(chunks, file[b[i]:b[i+1]])
	}
	otherChunks := other[b[0]:]
	build := func(parts ...[]byte) []byte { return bytes.Join(append([][]byte{head}, parts...), nil) }
	tests := []struct {
		name string
		file []byte
	}{
		{"swap 0 and 1", build(chunks[1], chunks[0], chunks[2], chunks[3])},
		{"swap 1 and 2", build(chunks[0], chunks[2], chunks[1], chunks[3])},
		{"last chunk first", build(chunks[3], chunks[0], chunks[1], chunks[2])},
		{"drop a middle chunk", build(chunks[0], chunks[2], chunks[3])},
		{"drop the first chunk", build(chunks[1], chunks[2], chunks[3])},
		{"repeat a chunk", build(chunks[0], chunks[0], chunks[1], chunks[2], chunks[3])},
		{"drop the last chunk", build(chunks[0], chunks[1], chunks[2])},
		{"body of another file", build(otherChunks)},
		{"a chunk of another file", build(chunks[0], other[b[1]:b[2]], chunks[2], chunks[3])},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := open(t, root, small, tt.file); !errors.Is(err, ErrDamaged) {
				t.Fatalf("err = %v, want ErrDamaged", err)
			}
		})
	}
}

// failingRoot fails to open with err.
type failingRoot struct {
	*testRootKey
	err error
}

func (f failingRoot) Open(ctx context.Context, _, _ []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return nil, f.err
}

func TestNewReaderErrors(t *testing.T) {
	root := randomRootKey(t)
	file := seal(t, root, chunkSize, []byte("hello"), 0)
	v2 := bytes.Clone(file)
	v2[len(magic)] = 2
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	unavailable := keygate.Unavailable(errors.New("dial tcp: connection refused"), "KMS is unreachable")
	tests := []struct {
		name     string
		ctx      context.Context
		root     keygate.RootKey
		input    []byte
		want     error  // errors.Is
		wantText string // in the message
		notWant  error
	}{
		{"empty", nil, root, nil, ErrNotBackup, "not a keygate backup", nil},
		{"other file", nil, root, []byte("PK\x03\x04 some zip file, long enough"), ErrNotBackup, "not a keygate backup", nil},
		{"short other file", nil, root, []byte("hi"), ErrNotBackup, "not a keygate backup", nil},
		{"cut inside the magic", nil, root, []byte("KEYGATE-BA"), ErrTruncated, "backup is truncated", nil},
		{"version 2", nil, root, v2, ErrVersion, "version 2", nil},
		{"cut in the header", nil, root, file[:headerLen(t, file)-1], ErrTruncated, "backup is truncated", nil},
		{"wrong root key", nil, randomRootKey(t), file, ErrWrongKey, "the root key does not open this backup", ErrDamaged},
		{"root key unavailable", nil, failingRoot{root, unavailable}, file, unavailable, "KMS is unreachable", ErrWrongKey},
		{"canceled", canceled, failingRoot{root, nil}, file, context.Canceled, "context canceled", ErrWrongKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := tt.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			r, _, err := NewReader(ctx, bytes.NewReader(tt.input), tt.root)
			if r != nil || !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.wantText) {
				t.Fatalf("NewReader = %v, %v; want nil and %v saying %q", r, err, tt.want, tt.wantText)
			}
			if tt.notWant != nil && errors.Is(err, tt.notWant) {
				t.Errorf("err = %v, also %v", err, tt.notWant)
			}
		})
	}
	// An unavailable KMS keeps its code for the edge.
	_, _, err := NewReader(context.Background(), bytes.NewReader(file), failingRoot{root, unavailable})
	if code := keygate.ErrorCode(err); code != keygate.EUNAVAILABLE {
		t.Errorf("code = %s, want %s", code, keygate.EUNAVAILABLE)
	}
}

func TestErrorMessages(t *testing.T) {
	root := randomRootKey(t)
	plaintext := []byte(strings.Repeat("secret plaintext ", 5))
	file := seal(t, root, small, plaintext, 0)
	b := chunkBounds(t, file, small)
	damaged := bytes.Clone(file)
	damaged[b[2]+3] ^= 1
	tests := []struct {
		name string
		file []byte
		want string
	}{
		{"changed chunk", damaged, fmt.Sprintf("backup is damaged at chunk 2 (offset %d)", b[2])},
		{"cut between chunks", file[:b[3]], fmt.Sprintf("backup is truncated: it ends after chunk 2 (offset %d), the last chunk is missing", b[3])},
		{"cut in the header", file[:18], "backup is truncated: it ends inside the header, after 18 bytes"},
		{"cut after the header", file[:b[0]], "backup is truncated: it ends after the header, before the first chunk"},
		{"changed header", append(bytes.Clone(file[:30]), append([]byte{file[30] ^ 1}, file[31:]...)...), "backup is damaged: the header hash does not match the header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := open(t, root, small, tt.file)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Error("the message contains plaintext")
			}
		})
	}
}

func TestErrorsAreSticky(t *testing.T) {
	root := randomRootKey(t)
	file := seal(t, root, small, randomBytes(t, 5*small, 3), 0)
	b := chunkBounds(t, file, small)
	damaged := bytes.Clone(file)
	damaged[b[2]] ^= 1
	tests := []struct {
		name string
		file []byte
		want error
	}{
		{"damaged", damaged, ErrDamaged},
		{"truncated", file[:b[3]], ErrTruncated},
		{"intact", file, io.EOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _, err := newReader(context.Background(), bytes.NewReader(tt.file), root, small)
			if err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 7)
			var first error
			for first == nil {
				_, first = r.Read(buf)
			}
			if !errors.Is(first, tt.want) {
				t.Fatalf("err = %v, want %v", first, tt.want)
			}
			for range 3 {
				if n, err := r.Read(buf); n != 0 || err != first {
					t.Fatalf("Read again = %d, %v; want 0, %v", n, err, first)
				}
			}
		})
	}
}

// errWriter fails after n bytes.
type errWriter struct {
	n      int
	closed bool
}

var errDisk = errors.New("disk full")

func (w *errWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		return 0, errDisk
	}
	w.n -= len(p)
	return len(p), nil
}

func (w *errWriter) Close() error { w.closed = true; return nil }

func TestWriter(t *testing.T) {
	root := randomRootKey(t)
	ctx := context.Background()

	t.Run("Close is required", func(t *testing.T) {
		var buf bytes.Buffer
		w, err := newWriter(ctx, &buf, root, testHeader, small)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(randomBytes(t, 3*small, 1))
		if _, _, err := open(t, root, small, buf.Bytes()); !errors.Is(err, ErrTruncated) {
			t.Fatalf("without Close: err = %v, want ErrTruncated", err)
		}
	})

	t.Run("after Close", func(t *testing.T) {
		dst := &errWriter{n: 1 << 20}
		w, err := NewWriter(ctx, dst, root, testHeader)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if dst.closed {
			t.Error("Close closed the underlying writer")
		}
		if err := w.Close(); err != nil {
			t.Errorf("second Close = %v", err)
		}
		if n, err := w.Write([]byte("x")); n != 0 || err == nil {
			t.Errorf("Write after Close = %d, %v", n, err)
		}
	})

	t.Run("write errors are sticky", func(t *testing.T) {
		var buf bytes.Buffer
		w, err := newWriter(ctx, &buf, root, testHeader, small)
		if err != nil {
			t.Fatal(err)
		}
		dst := &errWriter{n: small + tagSize} // room for one chunk
		w.dst = dst
		if _, err := w.Write(randomBytes(t, 3*small, 1)); !errors.Is(err, errDisk) {
			t.Fatalf("Write = %v, want %v", err, errDisk)
		}
		if _, err := w.Write([]byte("x")); !errors.Is(err, errDisk) {
			t.Errorf("second Write = %v, want %v", err, errDisk)
		}
		if err := w.Close(); !errors.Is(err, errDisk) {
			t.Errorf("Close = %v, want %v", err, errDisk)
		}
	})

	t.Run("header write fails", func(t *testing.T) {
		if _, err := NewWriter(ctx, &errWriter{}, root, testHeader); !errors.Is(err, errDisk) {
			t.Errorf("err = %v, want %v", err, errDisk)
		}
	})

	t.Run("header too large", func(t *testing.T) {
		h := testHeader
		h.Extra = map[string]string{"big": strings.Repeat("x", maxMetaLen)}
		if _, err := NewWriter(ctx, io.Discard, root, h); err == nil || !strings.Contains(err.Error(), "over the limit") {
			t.Errorf("err = %v", err)
		}
	})

	t.Run("root key fails", func(t *testing.T) {
		if _, err := NewWriter(ctx, io.Discard, sealFails{}, testHeader); !errors.Is(err, errDisk) {
			t.Errorf("err = %v", err)
		}
	})

	t.Run("files differ", func(t *testing.T) {
		a := seal(t, root, small, []byte("same"), 0)
		b := seal(t, root, small, []byte("same"), 0)
		if bytes.Equal(a, b) {
			t.Error("two backups of the same plaintext are equal: the file key or prefix is not fresh")
		}
	})

	t.Run("not printed", func(t *testing.T) {
		w, _ := NewWriter(ctx, io.Discard, root, testHeader)
		w.Write([]byte("secret plaintext"))
		r, _, _ := NewReader(ctx, bytes.NewReader(seal(t, root, chunkSize, []byte("secret plaintext"), 0)), root)
		r.Read(make([]byte, 1))
		for _, s := range []string{fmt.Sprint(w), fmt.Sprintf("%+v %#v", w, w), fmt.Sprint(r), fmt.Sprintf("%+v %#v", r, r)} {
			if strings.Contains(s, "secret") || strings.Contains(s, "115 101 99") {
				t.Errorf("printed %q", s)
			}
		}
	})
}

type sealFails struct{}

func (sealFails) Seal(context.Context, []byte, []byte) ([]byte, error) { return nil, errDisk }
func (sealFails) Open(context.Context, []byte, []byte) ([]byte, error) { return nil, errDisk }

// TestBoundedMemory streams 64 MiB through a pipe and checks that neither
// side holds the stream.
func TestBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 64 MiB")
	}
	root := randomRootKey(t)
	const size = 64 << 20
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	pr, pw := io.Pipe()
	go func() {
		w, err := NewWriter(context.Background(), pw, root, testHeader)
		if err != nil {
			pw.CloseWithError(err)
			return
		}
		_, err = io.CopyN(w, zeros{}, size)
		if err == nil {
			err = w.Close()
		}
		pw.CloseWithError(err)
	}()
	r, _, err := NewReader(context.Background(), pr, root)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, r)
	if err != nil || n != size {
		t.Fatalf("read %d, %v; want %d", n, err, size)
	}
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4<<20 {
		t.Errorf("allocated %d bytes to stream %d", alloc, size)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func BenchmarkWrite64MiB(b *testing.B) {
	root := randomRootKey(b)
	buf := randomBytes(b, 1<<20, 1)
	b.SetBytes(64 << 20)
	b.ReportAllocs()
	for b.Loop() {
		w, err := NewWriter(context.Background(), io.Discard, root, testHeader)
		if err != nil {
			b.Fatal(err)
		}
		for range 64 {
			w.Write(buf)
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRead64MiB(b *testing.B) {
	root := randomRootKey(b)
	var file bytes.Buffer
	w, _ := NewWriter(context.Background(), &file, root, testHeader)
	io.CopyN(w, zeros{}, 64<<20)
	w.Close()
	buf := make([]byte, 1<<20)
	b.SetBytes(64 << 20)
	b.ReportAllocs()
	for b.Loop() {
		r, _, err := NewReader(context.Background(), bytes.NewReader(file.Bytes()), root)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{r}, buf); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSourceErrors checks that a failing source is reported as itself, not as
// damage, and stays reported.
func TestSourceErrors(t *testing.T) {
	root := randomRootKey(t)
	file := seal(t, root, small, randomBytes(t, 3*small, 1), 0)
	b := chunkBounds(t, file, small)
	for _, cut := range []int{5, len(magic) + 3, b[0] - 1, b[0], b[1] + 3} {
		t.Run(fmt.Sprint(cut), func(t *testing.T) {
			src := io.MultiReader(bytes.NewReader(file[:cut]), iotest.ErrReader(errDisk))
			r, _, err := newReader(context.Background(), src, root, small)
			if err == nil {
				_, err = io.ReadAll(r)
				if _, again := r.Read(make([]byte, 1)); again != err {
					t.Errorf("Read again = %v, want %v", again, err)
				}
			}
			if !errors.Is(err, errDisk) || errors.Is(err, ErrDamaged) {
				t.Fatalf("err = %v, want %v and not ErrDamaged", err, errDisk)
			}
		})
	}
}
