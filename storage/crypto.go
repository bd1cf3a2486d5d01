package storage

import (
	"bufio"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/sluice-mq/sluice/storage/wal"
)

// Sealing of records at rest. A payload written to the data directory starts
// with one format byte (part of the on-disk format: do not change):
//
//	0x00 plain      the record follows as is; refused while a keyring is
//	                set, unless Options.AcceptUnsealed (a migration aid)
//	0x01 sealed, format 1 (no binding): refused (errOldFormat)
//	0x02 sealed     idLen(1) keyID salt(16) nonce(12)
//	                AES-256-GCM(ciphertext || tag(16))
//
// The key ID names the keyring key, so records written under an older key
// stay readable until compaction rewrites them under the first key. The
// AES key is not the keyring key itself but a subkey derived from it with
// HKDF-SHA256 and the record's salt; a writer takes a fresh random salt at
// start and after every recordsPerSubkey records, so that no AES key ever
// seals more than that many records under random 96-bit nonces (GCM's
// bound is 2^32 invocations per key for random nonces; we stay far
// below it, with a nonce-collision chance under 2^-48 per subkey).
//
// The associated data binds a record to its place: the label
// "sluice-at-rest-2", the kind of place (a log record, the definitions
// file), the data directory's random 16-byte identity (the IDENTITY file)
// and, for a log record, its log position, which also determines its
// segment. A sealed record moved or copied to another position, another
// segment, another data directory or from the log into the definitions
// file fails authentication like a tampered one. What kind of record it
// is lives in its plaintext and is authenticated with it.
//
// The WAL's CRC32C covers the sealed bytes, so a torn write is found
// without the key; GCM's tag finds tampering with it.
const (
	formatPlain    byte = 0x00
	formatSealedV1 byte = 0x01
	formatSealed   byte = 0x02
	nonceSize           = 12
	saltSize            = 16
	tagSize             = 16
	keySize             = 32
)

// recordsPerSubkey is how many records one derived key seals before the
// writer takes a new salt. A variable so that a test can make it small.
var recordsPerSubkey = 1 << 24

// Places a sealed payload is bound to (part of the associated data).
const (
	placeLog         byte = 1
	placeDefinitions byte = 2
	placeUsers       byte = 3
)

// binding is where a sealed payload belongs.
type binding struct {
	place  byte
	dataID [16]byte
	pos    uint64 // log position; 0 for the definitions file
}

const adLabel = "sluice-at-rest-2"

// ad is the associated data for b.
func (b binding) ad(buf *[len(adLabel) + 1 + 16 + 8]byte) []byte {
	n := copy(buf[:], adLabel)
	buf[n] = b.place
	n++
	n += copy(buf[n:], b.dataID[:])
	binary.LittleEndian.PutUint64(buf[n:], b.pos)
	return buf[:]
}

var (
	// ErrTampered is a sealed record that does not authenticate under its
	// key: tampered, moved from another place, or a wrong key.
	ErrTampered = errors.New("storage: sealed record failed authentication (tampered, moved from elsewhere, or wrong key)")
	// ErrUnsealed is a plain record found while a keyring is set.
	ErrUnsealed = errors.New("storage: unsealed record while a keyring is set")
)

// Keyring holds the encryption keys; the first seals new records.
type Keyring struct {
	ids  []string
	keys map[string][]byte // master keys by id

	// Subkeys derived for reading, by key id and salt; bounded.
	mu      sync.Mutex
	derived map[derivedID]cipher.AEAD
}

type derivedID struct {
	id   string
	salt [saltSize]byte
}

// ParseKeyring reads "ID:BASE64" lines, BASE64 encoding 32 random bytes;
// '#' starts a comment and blank lines are skipped.
func ParseKeyring(r io.Reader) (*Keyring, error) {
	k := &Keyring{keys: map[string][]byte{}, derived: map[derivedID]cipher.AEAD{}}
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if i := strings.IndexByte(text, '#'); i >= 0 {
			text = text[:i]
		}
		text = strings.TrimSpace(text)
		if text == "" {
			continue
		}
		id, b64, ok := strings.Cut(text, ":")
		if !ok || id == "" || len(id) > 255 {
			return nil, fmt.Errorf("keyring line %d: want ID:BASE64", line)
		}
		key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
		if err != nil || len(key) != keySize {
			return nil, fmt.Errorf("keyring line %d: key %q must be base64 of %d bytes", line, id, keySize)
		}
		if _, dup := k.keys[id]; dup {
			return nil, fmt.Errorf("keyring line %d: key %q appears twice", line, id)
		}
		k.ids = append(k.ids, id)
		k.keys[id] = key
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(k.ids) == 0 {
		return nil, errors.New("keyring has no keys")
	}
	return k, nil
}

// LoadKeyring reads a keyring file.
func LoadKeyring(path string) (*Keyring, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	k, err := ParseKeyring(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// Current is the ID of the key that seals new records.
func (k *Keyring) Current() string { return k.ids[0] }

// subkey returns the AES-GCM instance of key id's subkey for salt.
func (k *Keyring) subkey(id string, salt [saltSize]byte) (cipher.AEAD, error) {
	master, ok := k.keys[id]
	if !ok {
		return nil, fmt.Errorf("storage: record sealed with key %q, which is not in the keyring", id)
	}
	d := derivedID{id, salt}
	k.mu.Lock()
	aead := k.derived[d]
	k.mu.Unlock()
	if aead != nil {
		return aead, nil
	}
	key, err := hkdf.Key(sha256.New, master, salt[:], "sluice record key v2", keySize)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	if aead, err = cipher.NewGCM(block); err != nil {
		return nil, err
	}
	k.mu.Lock()
	if len(k.derived) >= 256 {
		clear(k.derived) // salts come in long runs; a miss costs one HKDF
	}
	k.derived[d] = aead
	k.mu.Unlock()
	return aead, nil
}

// sealOverhead is what sealing adds to a payload.
func (k *Keyring) sealOverhead() int {
	if k == nil {
		return 1
	}
	return 2 + len(k.ids[0]) + saltSize + nonceSize + tagSize
}

// sealWith appends the sealed form of plain to dst under key id's subkey
// aead for salt, bound to b.
func sealWith(dst []byte, id string, salt [saltSize]byte, aead cipher.AEAD, b binding, plain []byte) []byte {
	dst = append(dst, formatSealed, byte(len(id)))
	dst = append(dst, id...)
	dst = append(dst, salt[:]...)
	var nonce [nonceSize]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		panic("storage: no randomness for a nonce: " + err.Error())
	}
	dst = append(dst, nonce[:]...)
	var ad [len(adLabel) + 1 + 16 + 8]byte
	return aead.Seal(dst, nonce[:], plain, b.ad(&ad))
}

func newSalt() (salt [saltSize]byte) {
	if _, err := rand.Read(salt[:]); err != nil {
		panic("storage: no randomness for a salt: " + err.Error())
	}
	return salt
}

// seal appends the at-rest form of plain, bound to b, to dst, with a
// fresh salt: for one-off payloads (the definitions file). A nil keyring
// writes plain.
func (k *Keyring) seal(dst []byte, b binding, plain []byte) []byte {
	if k == nil {
		dst = append(dst, formatPlain)
		return append(dst, plain...)
	}
	salt := newSalt()
	aead, err := k.subkey(k.ids[0], salt)
	if err != nil {
		panic(err) // the first key is always in the keyring
	}
	return sealWith(dst, k.ids[0], salt, aead, b, plain)
}

// open returns the plain form of an at-rest payload bound to b, appended to
// dst. A plain payload is refused while a keyring is set unless
// acceptPlain.
func (k *Keyring) open(dst, rec []byte, b binding, acceptPlain bool) ([]byte, error) {
	return k.openWith(dst, rec, b, acceptPlain)
}

// openInPlace is open that decrypts into rec's own storage and returns a
// slice of it: for a record read into a fresh buffer that nobody else uses.
func (k *Keyring) openInPlace(rec []byte, b binding, acceptPlain bool) ([]byte, error) {
	if len(rec) > 0 && rec[0] == formatPlain {
		if k != nil && !acceptPlain {
			return nil, ErrUnsealed
		}
		return rec[1:], nil
	}
	if len(rec) >= 2 && rec[0] == formatSealed && len(rec) >= 2+int(rec[1])+saltSize+nonceSize {
		ct := rec[2+int(rec[1])+saltSize+nonceSize:]
		return k.openWith(ct[:0], rec, b, acceptPlain)
	}
	return k.open(nil, rec, b, acceptPlain)
}

// openWith opens rec into dst, which may be the ciphertext's own storage
// at length 0 (the AEAD allows exactly that overlap).
func (k *Keyring) openWith(dst, rec []byte, b binding, acceptPlain bool) ([]byte, error) {
	if len(rec) == 0 {
		return nil, errors.New("storage: empty record")
	}
	switch rec[0] {
	case formatPlain:
		if k != nil && !acceptPlain {
			return nil, ErrUnsealed
		}
		return append(dst, rec[1:]...), nil
	case formatSealedV1:
		return nil, errOldFormat
	case formatSealed:
		if len(rec) < 2 || len(rec) < 2+int(rec[1])+saltSize+nonceSize {
			return nil, errors.New("storage: sealed record too short")
		}
		id := string(rec[2 : 2+int(rec[1])])
		if k == nil {
			return nil, fmt.Errorf("storage: record sealed with key %q but no keyring is configured", id)
		}
		rest := rec[2+int(rec[1]):]
		aead, err := k.subkey(id, [saltSize]byte(rest[:saltSize]))
		if err != nil {
			return nil, err
		}
		rest = rest[saltSize:]
		var ad [len(adLabel) + 1 + 16 + 8]byte
		out, err := aead.Open(dst, rest[:nonceSize], rest[nonceSize:], b.ad(&ad))
		if err != nil {
			return nil, ErrTampered
		}
		return out, nil
	}
	return nil, fmt.Errorf("storage: unknown record format 0x%02x", rec[0])
}

// logSealer seals log records as the WAL writes them (wal.Sealer), bound
// to their position, under the store's current keyring. Only the WAL's
// writer goroutine calls Round and the functions it returns.
type logSealer struct {
	keys   func() *Keyring
	dataID [16]byte

	cur  *Keyring // the keyring the subkey below belongs to
	salt [saltSize]byte
	aead cipher.AEAD
	left int // records the subkey may still seal
}

func sealPlain(dst []byte, _ wal.Pos, payload []byte) []byte {
	dst = append(dst, formatPlain)
	return append(dst, payload...)
}

// Round implements wal.Sealer.
func (ls *logSealer) Round() (func(dst []byte, pos wal.Pos, payload []byte) []byte, int) {
	k := ls.keys()
	if k == nil {
		return sealPlain, 1
	}
	if k != ls.cur {
		ls.cur, ls.left = k, 0
	}
	id := k.ids[0]
	return func(dst []byte, pos wal.Pos, payload []byte) []byte {
		if ls.left <= 0 {
			ls.salt = newSalt()
			aead, err := k.subkey(id, ls.salt)
			if err != nil {
				panic(err) // the first key is always in the keyring
			}
			ls.aead, ls.left = aead, recordsPerSubkey
		}
		ls.left--
		return sealWith(dst, id, ls.salt, ls.aead, binding{place: placeLog, dataID: ls.dataID, pos: uint64(pos)}, payload)
	}, k.sealOverhead()
}
