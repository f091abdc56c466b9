// Package backup defines the sealed file format of keygate backups: one file,
// encrypted under a fresh key that the root key seals, and authenticated as a
// whole, so that a changed, cut, extended or reordered file does not restore.
// What goes inside the file (the database rows) is up to the caller.
//
// # File layout, format version 1
//
// All integers are unsigned big-endian. M and K are the lengths of the two
// variable-size header fields.
//
//	offset     size    field
//	0          15      magic "KEYGATE-BACKUP\n" (4B 45 59 47 41 54 45 2D 42 41 43 4B 55 50 0A)
//	15         1       format version, 0x01
//	16         4       M, metadata length, at most 16384
//	20         M       metadata: a JSON object (the Header), readable but not confidential
//	20+M       7       nonce prefix, random
//	27+M       4       K, sealed file key length, 1 to 16384
//	31+M       K       sealed file key: RootKey.Seal(file key, additional data =
//	                   bytes 0 to 27+M, i.e. magic through nonce prefix);
//	                   the file key is 32 random bytes, fresh for every file
//	31+M+K     32      header hash: SHA-256 of bytes 0 to 31+M+K
//	63+M+K     ...     chunks 0, 1, ..., n-1, back to back, nothing after them
//
// The chunk key is HKDF-SHA256(secret = file key, salt = nonce prefix,
// info = "keygate backup v1 chunk key"), 32 bytes, used with AES-256-GCM.
// Chunk i (counting from 0) is
//
//	AES-256-GCM-Seal(chunk key,
//	    nonce = nonce prefix (7) ‖ i as uint32 (4) ‖ last-chunk flag (1),
//	    plaintext,
//	    additional data = header hash (32))
//
// that is, the ciphertext followed by its 16-byte tag. Every chunk but the
// last holds exactly 65536 bytes of plaintext (65552 bytes in the file) and
// has flag 0x00. The last chunk holds 0 to 65536 bytes and has flag 0x01; it
// is empty only when it is also the first (an empty backup). The plaintext
// of the backup is the chunks' plaintexts in order. This is the STREAM
// construction of Hoang, Reyhanitabar, Rogaway and Vizár (2015), as used by
// age and Tink: the counter stops chunks being reordered or dropped, the
// flag stops the file being cut at a chunk boundary, the header hash stops
// chunks moving between files, and the sealed file key binds the header to
// the root key.
//
// A reader returns plaintext chunk by chunk, each authenticated before it is
// released, so a damaged file is reported only when the reader reaches the
// damage: a restore must not commit anything before Read returned io.EOF.
package backup
