package backup

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"

	"github.com/keygate/keygate"
)

// Writer encrypts a backup as it is written. Close writes the last chunk and
// must be called: a backup without it reads as truncated.
type Writer struct {
	dst       io.Writer
	aead      cipher.AEAD
	nonce     [nonceSize]byte // prefix in place; counter and flag set per chunk
	ad        [hashSize]byte  // header hash
	chunkSize int
	buf       []byte // plaintext of the chunk being filled
	out       []byte // ciphertext of the chunk being written
	n         uint64 // number of the next chunk
	err       error  // sticky: the first failure, or errClosed
	closed    bool
	closeErr  error
}

var _ io.WriteCloser = (*Writer)(nil)

// NewWriter writes the header of a new backup to w, with a fresh file key
// sealed by root, and returns a Writer for the plaintext. ctx is used only to
// seal the file key.
func NewWriter(ctx context.Context, w io.Writer, root keygate.RootKey, h Header) (*Writer, error) {
	return newWriter(ctx, w, root, h, chunkSize)
}

// newWriter is NewWriter with another chunk size, for tests; files written
// with any size but chunkSize are not version 1 backups.
func newWriter(ctx context.Context, w io.Writer, root keygate.RootKey, h Header, size int) (*Writer, error) {
	meta, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("backup: encoding header: %w", err)
	}
	if len(meta) > maxMetaLen {
		return nil, fmt.Errorf("backup: header is %d bytes encoded, over the limit of %d", len(meta), maxMetaLen)
	}
	var secrets [fileKeySize + prefixSize]byte
	defer clear(secrets[:])
	if _, err := rand.Read(secrets[:]); err != nil {
		return nil, fmt.Errorf("backup: generating the file key: %w", err)
	}
	fileKey, prefix := secrets[:fileKeySize], secrets[fileKeySize:]

	head := preamble(meta, prefix)
	sealed, err := root.Seal(ctx, fileKey, head)
	if err != nil {
		return nil, fmt.Errorf("backup: sealing the file key: %w", err)
	}
	if len(sealed) == 0 || len(sealed) > maxSealedLen {
		return nil, fmt.Errorf("backup: the root key sealed the file key into %d bytes, want 1 to %d", len(sealed), maxSealedLen)
	}
	head = binary.BigEndian.AppendUint32(head, uint32(len(sealed)))
	head = append(head, sealed...)
	sum := sha256.Sum256(head)
	head = append(head, sum[:]...)

	aead, err := newChunkAEAD(fileKey, prefix)
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	if _, err := w.Write(head); err != nil {
		return nil, fmt.Errorf("backup: writing header: %w", err)
	}
	bw := &Writer{
		dst:       w,
		aead:      aead,
		ad:        sum,
		chunkSize: size,
		buf:       make([]byte, 0, size),
		out:       make([]byte, 0, size+tagSize),
	}
	copy(bw.nonce[:], prefix)
	return bw, nil
}

// Write encrypts p. Chunks go to the underlying writer as they fill; the
// first error is returned by every later call and by Close.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	written := 0
	for len(p) > 0 {
		if len(w.buf) == w.chunkSize {
			// More plaintext follows, so the full chunk is not the last.
			if err := w.flush(false); err != nil {
				return written, err
			}
		}
		k := copy(w.buf[len(w.buf):w.chunkSize], p)
		w.buf = w.buf[:len(w.buf)+k]
		p = p[k:]
		written += k
	}
	return written, nil
}

// Close writes the last chunk. It does not close the underlying writer. It
// returns the first error of the Writer, if any; a second call returns the
// same as the first.
func (w *Writer) Close() error {
	if w.closed {
		return w.closeErr
	}
	w.closed = true
	if w.err == nil {
		w.flush(true)
	}
	w.closeErr = w.err
	if w.err == nil {
		w.err = errClosed
	}
	clear(w.buf[:cap(w.buf)])
	return w.closeErr
}

// String keeps the plaintext buffer out of logs and %v.
func (w *Writer) String() string { return "backup.Writer" }

// GoString does the same for %#v.
func (w *Writer) GoString() string { return w.String() }

func (w *Writer) flush(last bool) error {
	if w.n > maxChunkNumber {
		w.err = errTooLarge
		return w.err
	}
	chunkNonce(&w.nonce, w.n, last)
	w.out = w.aead.Seal(w.out[:0], w.nonce[:], w.buf, w.ad[:])
	n, err := w.dst.Write(w.out)
	if err == nil && n < len(w.out) {
		err = io.ErrShortWrite
	}
	if err != nil {
		w.err = fmt.Errorf("backup: writing chunk %d: %w", w.n, err)
		return w.err
	}
	w.n++
	w.buf = w.buf[:0]
	return nil
}
