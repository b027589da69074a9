package ingest_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/ingest"
	"github.com/cxpulse/cxpulse/internal/testenv"
	"github.com/cxpulse/cxpulse/pkg/events"
)

// TestPseudonymizedCustomerIDs: for a tenant with
// pseudonymize_customer_ids, what reaches Kafka holds the keyed hash of
// each customer id (in the key, customer_id and referrer_id), never the id.
func TestPseudonymizedCustomerIDs(t *testing.T) {
	secret := "a per-tenant secret of enough bytes"
	secretFile := filepath.Join(t.TempDir(), "acme.secret")
	require.NoError(t, os.WriteFile(secretFile, []byte(secret+"\n"), 0o600))
	e := start(t, func(c *ingest.Config) {
		c.TenantsFile = writeFile(t, "tenants.yaml", fmt.Sprintf("tenants:\n  acme: {currency: EUR, pseudonymize_customer_ids: true, pseudonym_secret_file: %s}\n", secretFile))
	})
	// The pseudonym as docs/privacy.md defines it, computed here.
	pseudonym := func(id string) string {
		m := hmac.New(sha256.New, []byte(secret))
		m.Write([]byte(id))
		return "p-" + hex.EncodeToString(m.Sum(nil)[:16])
	}
	at := time.Now().UTC().Add(-time.Hour).Format(time.RFC3339)
	body := "[" + strings.Join([]string{
		`{"id":"p-1","type":"purchase.completed","tenant":"acme","occurred_at":"` + at + `","customer_id":"alice@example.com","purchase":{"order_id":"o-1","amount":5}}`,
		`{"id":"r-1","type":"referral.sent","tenant":"acme","occurred_at":"` + at + `","customer_id":"bob@example.com","referral":{"code":"BOB10","referrer_id":"bob@example.com"}}`,
	}, ",") + "]"
	a := e.post(t, acmeWriter, "application/json", []byte(body))
	require.Equal(t, http.StatusAccepted, a.status, string(a.body))
	recs := testenv.Consume(t, e.kafka, "cx.purchases", 2)
	got := map[string]events.Event{}
	for _, r := range recs {
		require.NotContains(t, string(r.Value), "@example.com")
		require.NotContains(t, string(r.Key), "@example.com")
		ev, _, err := events.NewDecoder(events.Strict).Decode(r.Value)
		require.NoError(t, err)
		require.Equal(t, "acme/"+ev.CustomerID, string(r.Key))
		got[ev.ID] = ev
	}
	require.Equal(t, pseudonym("alice@example.com"), got["p-1"].CustomerID)
	require.Equal(t, pseudonym("bob@example.com"), got["r-1"].CustomerID)
	require.Equal(t, pseudonym("bob@example.com"), got["r-1"].Referral.ReferrerID)
}
