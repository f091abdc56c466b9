// Package apikey defines keygate's API key format: generating keys, parsing
// them without allocating, printing them without revealing the secret, and
// hashing them for storage.
//
// A key looks like
//
//	<prefix>_<identifier><secret>_<checksum>
//
// and contains only base62 characters (0-9A-Za-z) apart from underscores:
//
//   - prefix: 1 to 32 letters, digits and underscores; starts with a letter,
//     does not end with '_' and does not contain "__" (for example kg_live).
//   - identifier: exactly 12 random base62 characters; the public lookup id.
//   - secret: 32 random base62 characters when generated; Parse accepts 32
//     to 128.
//   - checksum: CRC-32 (IEEE) of everything before the final underscore,
//     written as exactly 6 base62 digits, most significant first, padded
//     with '0', in the alphabet order 0-9, A-Z, a-z.
//
// Keys are parsed from the right: the last underscore starts the checksum
// and the last underscore before it ends the prefix, so prefixes may
// themselves contain underscores. The checksum lets Parse reject typos and
// lets secret scanners recognise keys without a database lookup.
package apikey
