package importer

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/cxpulse/cxpulse/internal/store/keys"
	"github.com/cxpulse/cxpulse/pkg/events"
)

// Ledger remembers, per tenant, the events imports have sent, for good:
// the aggregator forgets ids after its dedupe horizon, and an import run
// again next month must still send nothing twice.
type Ledger struct {
	rdb redis.UniversalClient
}

// NewLedger returns the ledger kept in rdb.
func NewLedger(rdb redis.UniversalClient) *Ledger { return &Ledger{rdb: rdb} }

// member is what the ledger keeps of an event: 8 bytes of SHA-256 of its
// id and revision (a higher revision is a correction, sent again).
func member(ev *events.Event) string {
	h := sha256.Sum256([]byte(ev.ID + "\x00" + strconv.FormatInt(ev.Revision, 10)))
	return string(h[:8])
}

// Seen reports, per event, whether an import sent it before.
func (l *Ledger) Seen(ctx context.Context, evs []events.Event) ([]bool, error) {
	out := make([]bool, len(evs))
	byTenant := map[string][]int{}
	for i := range evs {
		byTenant[evs[i].Tenant] = append(byTenant[evs[i].Tenant], i)
	}
	for tenant, idx := range byTenant {
		ms := make([]any, len(idx))
		for k, i := range idx {
			ms[k] = member(&evs[i])
		}
		seen, err := l.rdb.SMIsMember(ctx, keys.Imported(tenant), ms...).Result()
		if err != nil {
			return nil, fmt.Errorf("reading the import ledger of %s: %w", tenant, err)
		}
		for k, i := range idx {
			out[i] = seen[k]
		}
	}
	return out, nil
}

// Mark records evs as sent.
func (l *Ledger) Mark(ctx context.Context, evs []events.Event) error {
	byTenant := map[string][]any{}
	for i := range evs {
		byTenant[evs[i].Tenant] = append(byTenant[evs[i].Tenant], member(&evs[i]))
	}
	for tenant, ms := range byTenant {
		if err := l.rdb.SAdd(ctx, keys.Imported(tenant), ms...).Err(); err != nil {
			return fmt.Errorf("writing the import ledger of %s: %w", tenant, err)
		}
	}
	return nil
}
