package postgres

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
)

// scramIterations is PostgreSQL's default scram_iterations.
const scramIterations = 4096

// scramVerifier returns the SCRAM-SHA-256 verifier PostgreSQL stores for
// password (RFC 5802/7677, in pg_authid's format). Sending ALTER ROLE ...
// PASSWORD with the verifier instead of the password keeps the password out
// of the server's statement log, as psql's \password does.
//
// PostgreSQL applies SASLprep to passwords; for printable ASCII it is the
// identity, so only such passwords are accepted here (GetRandomPassword
// never makes others).
func scramVerifier(password string) (string, error) {
	for _, c := range []byte(password) {
		if c < 0x20 || c > 0x7e {
			return "", fmt.Errorf("postgres: the password contains a character outside printable ASCII; only printable ASCII passwords are supported")
		}
	}
	salt := make([]byte, 16)
	rand.Read(salt) // never returns an error
	salted, err := pbkdf2.Key(sha256.New, password, salt, scramIterations, sha256.Size)
	if err != nil {
		return "", fmt.Errorf("postgres: deriving the SCRAM key: %w", err)
	}
	clientKey := hmacSHA256(salted, "Client Key")
	storedKey := sha256.Sum256(clientKey)
	serverKey := hmacSHA256(salted, "Server Key")
	b64 := base64.StdEncoding.EncodeToString
	var sb strings.Builder
	fmt.Fprintf(&sb, "SCRAM-SHA-256$%d:%s$%s:%s", scramIterations, b64(salt), b64(storedKey[:]), b64(serverKey))
	return sb.String(), nil
}

func hmacSHA256(key []byte, msg string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(msg))
	return h.Sum(nil)
}
