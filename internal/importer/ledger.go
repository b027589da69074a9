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
// again next month must still send nothing twice. It keeps, per event id
// and revision, a fingerprint of what the event says, so that a row whose
// id was sent for another event is a conflict, not "already imported".
type Ledger struct {
	rdb redis.UniversalClient
}

// NewLedger returns the ledger kept in rdb.
func NewLedger(rdb redis.UniversalClient) *Ledger { return &Ledger{rdb: rdb} }

// Sent is what the ledger knows of an event.
type Sent int

// What the ledger knows of an event.
const (
	// NotSent: no import sent this id and revision.
	NotSent Sent = iota
	// SentSame: an import sent this id and revision, saying the same
	// (or before fingerprints were kept).
	SentSame
	// SentOther: an import sent this id and revision for another event.
	SentOther
)

// member is the ledger's field of an event: 8 bytes of SHA-256 of its id
// and revision (a higher revision is a correction, sent again).
func member(ev *events.Event) string {
	h := sha256.Sum256([]byte(ev.ID + "\x00" + strconv.FormatInt(ev.Revision, 10)))
	return string(h[:8])
}

// fingerprint is 8 bytes of SHA-256 of what an event says that tells two
// events apart without personal data: its type, survey metric and score,
// time and purchase amount.
func fingerprint(ev *events.Event) string {
	var metric, score, amount string
	if ev.Survey != nil {
		metric, score = string(ev.Survey.Metric), strconv.Itoa(ev.Survey.Score)
	}
	if ev.Purchase != nil {
		amount = strconv.FormatFloat(ev.Purchase.Amount, 'g', -1, 64)
	}
	h := sha256.Sum256([]byte(string(ev.Type) + "\x00" + metric + "\x00" + score + "\x00" +
		strconv.FormatInt(ev.OccurredAt.UnixMilli(), 10) + "\x00" + amount))
	return string(h[:8])
}

// Seen reports, per event, what an earlier import sent under its id and
// revision.
func (l *Ledger) Seen(ctx context.Context, evs []events.Event) ([]Sent, error) {
	out := make([]Sent, len(evs))
	byTenant := map[string][]int{}
	for i := range evs {
		byTenant[evs[i].Tenant] = append(byTenant[evs[i].Tenant], i)
	}
	for tenant, idx := range byTenant {
		fields := make([]string, len(idx))
		for k, i := range idx {
			fields[k] = member(&evs[i])
		}
		pipe := l.rdb.Pipeline()
		prints := pipe.HMGet(ctx, keys.ImportLedger(tenant), fields...)
		old := pipe.SMIsMember(ctx, keys.Imported(tenant), toAny(fields)...)
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, fmt.Errorf("reading the import ledger of %s: %w", tenant, err)
		}
		for k, i := range idx {
			switch p, ok := prints.Val()[k].(string); {
			case ok && p == fingerprint(&evs[i]):
				out[i] = SentSame
			case ok:
				out[i] = SentOther
			case old.Val()[k]:
				out[i] = SentSame
			}
		}
	}
	return out, nil
}

// Mark records evs as sent.
func (l *Ledger) Mark(ctx context.Context, evs []events.Event) error {
	byTenant := map[string][]any{}
	for i := range evs {
		byTenant[evs[i].Tenant] = append(byTenant[evs[i].Tenant], member(&evs[i]), fingerprint(&evs[i]))
	}
	for tenant, pairs := range byTenant {
		if err := l.rdb.HSet(ctx, keys.ImportLedger(tenant), pairs...).Err(); err != nil {
			return fmt.Errorf("writing the import ledger of %s: %w", tenant, err)
		}
	}
	return nil
}

// Known reports whether any import sent events of tenant.
func (l *Ledger) Known(ctx context.Context, tenant string) (bool, error) {
	n, err := l.rdb.Exists(ctx, keys.ImportLedger(tenant), keys.Imported(tenant)).Result()
	if err != nil {
		return false, fmt.Errorf("reading the import ledger of %s: %w", tenant, err)
	}
	return n > 0, nil
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
