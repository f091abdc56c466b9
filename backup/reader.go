package backup

import (
	"bytes"
	"context"
	"crypto/cipher"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"

	"github.com/keygate/keygate"
)

// Reader decrypts a backup. It returns only authenticated plaintext, a chunk
// at a time, and io.EOF only after the authenticated last chunk; a damaged,
// truncated or extended file gives an error wrapping ErrDamaged instead, at
// the chunk where the damage is. Errors are sticky.
type Reader struct {
	src       io.Reader
	aead      cipher.AEAD
	nonce     [nonceSize]byte
	ad        [hashSize]byte
	chunkSize int
	in        []byte // ciphertext of one chunk plus one byte of look-ahead
	have      int    // bytes of the next chunk already in in
	plain     []byte // plaintext buffer
	out       []byte // unread plaintext, a suffix of plain
	n         uint64 // number of the next chunk
	offset    int64  // file offset of the next chunk, for messages
	err       error  // sticky: io.EOF after the last chunk, or the first failure
}

var _ io.Reader = (*Reader)(nil)

// NewReader reads and authenticates the header of a backup from r and opens
// its file key with root. It fails with ErrNotBackup, ErrVersion,
// ErrWrongKey or ErrDamaged (ErrTruncated). An error from root that has code
// keygate.EUNAVAILABLE, or a done ctx, is returned as such, because the key
// may be right. ctx is used only to open the file key.
//
// NewReader reads no further than the header; the Reader then reads the
// chunks, holding one chunk in memory at a time.
func NewReader(ctx context.Context, r io.Reader, root keygate.RootKey) (*Reader, Header, error) {
	return newReader(ctx, r, root, chunkSize)
}

// newReader is NewReader with another chunk size, for tests.
func newReader(ctx context.Context, r io.Reader, root keygate.RootKey, size int) (*Reader, Header, error) {
	var h Header
	head := make([]byte, 0, len(magic)+1+4+maxSealedLenHint)
	// next appends n more bytes of header to head.
	next := func(n int) error {
		start := len(head)
		head = append(head, make([]byte, n)...)
		if n, err := io.ReadFull(r, head[start:]); err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return fmt.Errorf("%w: it ends inside the header, after %d bytes", ErrTruncated, start+n)
			}
			return fmt.Errorf("backup: reading header: %w", err)
		}
		return nil
	}

	n, err := io.ReadFull(r, head[:len(magic)])
	head = head[:n]
	switch {
	case n == 0 && (err == io.EOF || err == io.ErrUnexpectedEOF):
		return nil, h, fmt.Errorf("%w: the file is empty", ErrNotBackup)
	case err == io.ErrUnexpectedEOF && bytes.HasPrefix([]byte(magic), head):
		return nil, h, fmt.Errorf("%w: it ends inside the magic", ErrTruncated)
	case err == io.ErrUnexpectedEOF || (err == nil && string(head) != magic):
		return nil, h, ErrNotBackup
	case err != nil:
		return nil, h, fmt.Errorf("backup: reading header: %w", err)
	}
	if err := next(1); err != nil {
		return nil, h, err
	}
	if v := head[len(head)-1]; v != formatVersion {
		return nil, h, fmt.Errorf("%w: the file has version %d, this keygate reads version %d", ErrVersion, v, formatVersion)
	}
	if err := next(4); err != nil {
		return nil, h, err
	}
	metaLen := binary.BigEndian.Uint32(head[len(head)-4:])
	if metaLen > maxMetaLen {
		return nil, h, fmt.Errorf("%w: the header says its metadata is %d bytes, over the limit of %d", ErrDamaged, metaLen, maxMetaLen)
	}
	metaStart := len(head)
	if err := next(int(metaLen) + prefixSize); err != nil {
		return nil, h, err
	}
	preambleLen := len(head)
	if err := next(4); err != nil {
		return nil, h, err
	}
	sealedLen := binary.BigEndian.Uint32(head[len(head)-4:])
	if sealedLen == 0 || sealedLen > maxSealedLen {
		return nil, h, fmt.Errorf("%w: the header says the sealed file key is %d bytes, want 1 to %d", ErrDamaged, sealedLen, maxSealedLen)
	}
	sealedStart := len(head)
	if err := next(int(sealedLen) + hashSize); err != nil {
		return nil, h, err
	}
	sum := sha256.Sum256(head[:len(head)-hashSize])
	if subtle.ConstantTimeCompare(sum[:], head[len(head)-hashSize:]) != 1 {
		return nil, h, fmt.Errorf("%w: the header hash does not match the header", ErrDamaged)
	}
	meta := head[metaStart : preambleLen-prefixSize]
	prefix := head[preambleLen-prefixSize : preambleLen]
	sealed := head[sealedStart : len(head)-hashSize]

	// The header is intact, so a failure to open the file key means another
	// root key (or someone who rewrote the header hash too).
	fileKey, err := root.Open(ctx, sealed, head[:preambleLen])
	if err != nil {
		if ctx.Err() != nil || keygate.ErrorCode(err) == keygate.EUNAVAILABLE {
			return nil, h, fmt.Errorf("backup: opening the file key: %w", err)
		}
		return nil, h, fmt.Errorf("%w: %w", ErrWrongKey, err)
	}
	defer clear(fileKey)
	if len(fileKey) != fileKeySize {
		return nil, h, fmt.Errorf("%w: the file key is %d bytes, want %d", ErrDamaged, len(fileKey), fileKeySize)
	}
	if err := json.Unmarshal(meta, &h); err != nil {
		return nil, Header{}, fmt.Errorf("%w: the header metadata is not valid: %w", ErrDamaged, err)
	}
	aead, err := newChunkAEAD(fileKey, prefix)
	if err != nil {
		return nil, Header{}, fmt.Errorf("backup: %w", err)
	}
	br := &Reader{
		src:       r,
		aead:      aead,
		ad:        sum,
		chunkSize: size,
		in:        make([]byte, size+tagSize+1),
		plain:     make([]byte, 0, size),
		offset:    int64(len(head)),
	}
	copy(br.nonce[:], prefix)
	return br, h, nil
}

// Read reads decrypted, authenticated plaintext into p.
func (r *Reader) Read(p []byte) (int, error) {
	for len(r.out) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		r.err = r.next()
	}
	n := copy(p, r.out)
	r.out = r.out[n:]
	return n, nil
}

// String keeps the plaintext buffer out of logs and %v.
func (r *Reader) String() string { return "backup.Reader" }

// GoString does the same for %#v.
func (r *Reader) GoString() string { return r.String() }

// next reads, authenticates and decrypts the next chunk into r.out. It
// returns io.EOF with the last chunk.
func (r *Reader) next() error {
	enc := r.chunkSize + tagSize
	// Read one byte past a full chunk: if it is there, the chunk is not the
	// last one; if the input ends first, it must be.
	n, err := io.ReadFull(r.src, r.in[r.have:enc+1])
	n += r.have
	r.have = 0
	last := false
	switch err {
	case nil:
	case io.EOF, io.ErrUnexpectedEOF:
		last = true
	default:
		return fmt.Errorf("backup: reading chunk %d: %w", r.n, err)
	}
	if last && n == 0 {
		// Only possible for chunk 0: later chunks start with a look-ahead byte.
		return fmt.Errorf("%w: it ends after the header, before the first chunk", ErrTruncated)
	}
	if r.n > maxChunkNumber {
		return fmt.Errorf("%w: more chunks than the format allows", ErrDamaged)
	}
	chunk := r.in[:min(n, enc)]
	plain, err := r.open(chunk, last)
	if err != nil {
		return r.failed(chunk, last)
	}
	if last && len(plain) == 0 && r.n > 0 {
		// The writer never ends with an empty chunk after a full one.
		return fmt.Errorf("%w at chunk %d (offset %d): empty last chunk", ErrDamaged, r.n, r.offset)
	}
	r.out = plain
	r.n++
	r.offset += int64(len(chunk))
	if last {
		return io.EOF
	}
	r.in[0] = r.in[enc]
	r.have = 1
	return nil
}

func (r *Reader) open(chunk []byte, last bool) ([]byte, error) {
	chunkNonce(&r.nonce, r.n, last)
	return r.aead.Open(r.plain[:0], r.nonce[:], chunk, r.ad[:])
}

// failed explains why chunk did not open, trying the other flag to tell a
// missing or superfluous tail from a changed chunk. Nothing it decrypts is
// returned.
func (r *Reader) failed(chunk []byte, last bool) error {
	_, err := r.open(chunk, !last)
	clear(r.plain[:cap(r.plain)])
	switch {
	case err == nil && last:
		return fmt.Errorf("%w: it ends after chunk %d (offset %d), the last chunk is missing", ErrTruncated, r.n, r.offset+int64(len(chunk)))
	case err == nil:
		return fmt.Errorf("%w: unexpected data after the last chunk (offset %d)", ErrDamaged, r.offset+int64(len(chunk)))
	}
	return fmt.Errorf("%w at chunk %d (offset %d)", ErrDamaged, r.n, r.offset)
}
