package auth

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"hash"
)

// Password hashes are RabbitMQ's, so that a user exported from RabbitMQ
// (definitions: password_hash + hashing_algorithm) keeps its password here
// and one exported from sluice keeps it in RabbitMQ: the stored form is
// base64 of a 4-byte random salt followed by H(salt + password). New
// passwords are hashed with SHA-256, RabbitMQ's default since 3.6. SHA-512
// and, for old exports, MD5 are verified too.
const (
	HashSHA256 = "rabbit_password_hashing_sha256"
	HashSHA512 = "rabbit_password_hashing_sha512"
	HashMD5    = "rabbit_password_hashing_md5"
)

// saltSize is RabbitMQ's salt length.
const saltSize = 4

func hasher(algorithm string) (func() hash.Hash, error) {
	switch algorithm {
	case HashSHA256, "":
		return sha256.New, nil
	case HashSHA512:
		return sha512.New, nil
	case HashMD5:
		return md5.New, nil
	}
	return nil, fmt.Errorf("unknown hashing algorithm %q", algorithm)
}

// HashPassword returns password's stored form under algorithm ("" is
// SHA-256), with a fresh salt.
func HashPassword(algorithm, password string) (string, error) {
	var salt [saltSize]byte
	if _, err := rand.Read(salt[:]); err != nil {
		return "", err
	}
	return hashWithSalt(algorithm, salt[:], password)
}

func hashWithSalt(algorithm string, salt []byte, password string) (string, error) {
	newHash, err := hasher(algorithm)
	if err != nil {
		return "", err
	}
	h := newHash()
	h.Write(salt)
	h.Write([]byte(password))
	return base64.StdEncoding.EncodeToString(h.Sum(append([]byte(nil), salt...))), nil
}

// CheckHash validates a stored hash given with a user (definitions
// import, the HTTP API's password_hash): base64 of a salt and a digest of
// the algorithm's size. An empty hash is a user with no password, who can
// log in only through a certificate (EXTERNAL), as in RabbitMQ.
func CheckHash(algorithm, stored string) error {
	newHash, err := hasher(algorithm)
	if err != nil {
		return err
	}
	if stored == "" {
		return nil
	}
	raw, err := base64.StdEncoding.DecodeString(stored)
	if err != nil {
		return fmt.Errorf("password_hash is not base64: %w", err)
	}
	if len(raw) != saltSize+newHash().Size() {
		return fmt.Errorf("password_hash has %d bytes, want %d for %s", len(raw), saltSize+newHash().Size(), algorithm)
	}
	return nil
}

// verifyPassword reports whether password matches stored, in constant
// time for a given stored hash.
func verifyPassword(algorithm, stored, password string) bool {
	raw, err := base64.StdEncoding.DecodeString(stored)
	if err != nil || len(raw) < saltSize || stored == "" {
		return false
	}
	got, err := hashWithSalt(algorithm, raw[:saltSize], password)
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(stored)) == 1
}

const (
	keyIDAlphabet  = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	secretAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
)

// randomString returns n characters drawn uniformly from alphabet (whose
// length divides 256, so that no character is likelier).
func randomString(n int, alphabet string) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
