package storage

import (
	"bufio"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// Sealing of records at rest. A payload written to the data directory starts
// with one format byte (part of the on-disk format: do not change):
//
//	0x00 plain      the record follows as is
//	0x01 sealed     idLen(1) keyID nonce(12) AES-256-GCM(ciphertext || tag(16))
//
// The key ID names the keyring key that sealed it, so records written under
// an older key stay readable until compaction rewrites them under the first
// key. The WAL's CRC32C covers the sealed bytes, so a torn write is found
// without the key; GCM's tag finds tampering with it.
const (
	formatPlain  byte = 0x00
	formatSealed byte = 0x01
	nonceSize         = 12
	keySize           = 32
)

// ErrTampered is a sealed record that does not authenticate under its key.
var ErrTampered = errors.New("storage: sealed record failed authentication (tampered or wrong key)")

// Keyring holds the encryption keys; the first seals new records.
type Keyring struct {
	ids   []string
	aeads map[string]cipher.AEAD
}

// ParseKeyring reads "ID:BASE64" lines, BASE64 encoding 32 random bytes;
// '#' starts a comment and blank lines are skipped.
func ParseKeyring(r io.Reader) (*Keyring, error) {
	k := &Keyring{aeads: map[string]cipher.AEAD{}}
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
		if _, dup := k.aeads[id]; dup {
			return nil, fmt.Errorf("keyring line %d: key %q appears twice", line, id)
		}
		block, _ := aes.NewCipher(key)
		aead, _ := cipher.NewGCM(block)
		k.ids = append(k.ids, id)
		k.aeads[id] = aead
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

// seal appends the at-rest form of plain to dst. A nil keyring writes plain.
// sealHeader is the room seal puts before the payload: the format byte,
// and for a sealed record the key id and nonce.
func (k *Keyring) sealHeader() int {
	if k == nil {
		return 1
	}
	return 2 + len(k.ids[0]) + nonceSize
}

// sealOverhead is what sealing adds after the payload (the GCM tag).
func (k *Keyring) sealOverhead() int {
	if k == nil {
		return 0
	}
	return k.aeads[k.ids[0]].Overhead()
}

// sealInPlace seals buf[hdr:], where hdr is sealHeader(), in buf's own
// storage: the plain payload is encoded once, straight after the room
// for the header, and encrypted where it lies. buf should have
// sealOverhead() bytes of spare capacity.
func (k *Keyring) sealInPlace(buf []byte, hdr int) []byte {
	if k == nil {
		buf[0] = formatPlain
		return buf
	}
	id := k.ids[0]
	h := append(buf[:0], formatSealed, byte(len(id)))
	h = append(h, id...)
	nonce := h[len(h) : len(h)+nonceSize]
	if _, err := rand.Read(nonce); err != nil {
		panic("storage: no randomness for a nonce: " + err.Error())
	}
	// Seal may write its output over the plaintext when they start at the
	// same place, which they do: dst ends where the payload begins.
	return k.aeads[id].Seal(buf[:hdr], nonce, buf[hdr:], nil)
}

func (k *Keyring) seal(dst, plain []byte) []byte {
	if k == nil {
		dst = append(dst, formatPlain)
		return append(dst, plain...)
	}
	id := k.ids[0]
	dst = append(dst, formatSealed, byte(len(id)))
	dst = append(dst, id...)
	var nonce [nonceSize]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		panic("storage: no randomness for a nonce: " + err.Error())
	}
	dst = append(dst, nonce[:]...)
	return k.aeads[id].Seal(dst, nonce[:], plain, nil)
}

// openInPlace is open that decrypts into rec's own storage and returns a
// slice of it: for a record read into a fresh buffer that nobody else uses.
func (k *Keyring) openInPlace(rec []byte) ([]byte, error) {
	if len(rec) > 0 && rec[0] == formatPlain {
		return rec[1:], nil
	}
	if len(rec) >= 2 && rec[0] == formatSealed && len(rec) >= 2+int(rec[1])+nonceSize {
		ct := rec[2+int(rec[1])+nonceSize:]
		return k.openWith(ct[:0], rec)
	}
	return k.open(nil, rec)
}

// open returns the plain form of an at-rest payload, appended to dst.
func (k *Keyring) open(dst, rec []byte) ([]byte, error) {
	return k.openWith(dst, rec)
}

// openWith opens rec into dst, which may be the ciphertext's own storage
// at length 0 (the AEAD allows exactly that overlap).
func (k *Keyring) openWith(dst, rec []byte) ([]byte, error) {
	if len(rec) == 0 {
		return nil, errors.New("storage: empty record")
	}
	switch rec[0] {
	case formatPlain:
		return append(dst, rec[1:]...), nil
	case formatSealed:
		if len(rec) < 2 || len(rec) < 2+int(rec[1])+nonceSize {
			return nil, errors.New("storage: sealed record too short")
		}
		id := string(rec[2 : 2+int(rec[1])])
		if k == nil {
			return nil, fmt.Errorf("storage: record sealed with key %q but no keyring is configured", id)
		}
		aead, ok := k.aeads[id]
		if !ok {
			return nil, fmt.Errorf("storage: record sealed with key %q, which is not in the keyring", id)
		}
		rest := rec[2+int(rec[1]):]
		out, err := aead.Open(dst, rest[:nonceSize], rest[nonceSize:], nil)
		if err != nil {
			return nil, ErrTampered
		}
		return out, nil
	}
	return nil, fmt.Errorf("storage: unknown record format 0x%02x", rec[0])
}
