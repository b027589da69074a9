package tenants

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/cxpulse/cxpulse/pkg/events"
)

// minSecret is the shortest pseudonym secret accepted, in bytes.
const minSecret = 16

// pseudonymPrefix starts every pseudonym.
const pseudonymPrefix = "p-"

// isPseudonym matches a pseudonym: an id already replaced is left alone,
// so an event that passes ingest twice keeps its customer.
var isPseudonym = regexp.MustCompile(`^p-[0-9a-f]{32}$`)

// loadSecret reads a tenant's pseudonym secret from file (a trailing
// newline dropped).
func loadSecret(file string) ([]byte, error) {
	if file == "" {
		return nil, fmt.Errorf("required with pseudonymize_customer_ids: a file holding the tenant's secret (at least %d bytes)", minSecret)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	b = []byte(strings.TrimRight(string(b), "\r\n"))
	if len(b) < minSecret {
		return nil, fmt.Errorf("%s holds %d bytes; at least %d are needed", file, len(b), minSecret)
	}
	return b, nil
}

// Pseudonym returns the pseudonym of customer id under the tenant's
// secret: "p-" and the first 16 bytes of HMAC-SHA256(secret, id) in hex.
// Without a secret it returns id.
func (t Tenant) Pseudonym(id string) string {
	if t.pseudonyms == nil || id == "" || isPseudonym.MatchString(id) {
		return id
	}
	m := hmac.New(sha256.New, t.pseudonyms)
	m.Write([]byte(id))
	return pseudonymPrefix + hex.EncodeToString(m.Sum(nil)[:16])
}

// Pseudonymizes reports whether the tenant replaces customer ids.
func (t Tenant) Pseudonymizes() bool { return t.pseudonyms != nil }

// Pseudonymize replaces ev's customer ids (customer_id, and the referrer
// of a referral, which must equal it) by their pseudonyms, when the
// tenant has pseudonymize_customer_ids.
func (t Tenant) Pseudonymize(ev *events.Event) {
	if t.pseudonyms == nil {
		return
	}
	ev.CustomerID = t.Pseudonym(ev.CustomerID)
	if ev.Referral != nil {
		ev.Referral.ReferrerID = t.Pseudonym(ev.Referral.ReferrerID)
	}
}
