package publish

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/cxpulse/cxpulse/internal/alerts"
	"github.com/cxpulse/cxpulse/internal/digest"
	"github.com/cxpulse/cxpulse/internal/pace"
	"github.com/cxpulse/cxpulse/internal/periodbuckets"
	"github.com/cxpulse/cxpulse/pkg/period"
)

// digestEvery is how often the lease holder looks for digests due.
const digestEvery = 30 * time.Second

const stageDigest = "digest"

// digestLoop sends, from the publisher lease's holder, each tenant's
// digest once its day or week has closed in its zone.
func (p *Publisher) digestLoop(ctx context.Context) {
	pace.Every(ctx, digestEvery, func() bool {
		if p.epoch.Load() == 0 {
			return true // another instance publishes
		}
		if err := p.DigestOnce(ctx); err != nil && ctx.Err() == nil {
			p.log.Warn("sending digests", zap.String("error", problemSummary(err)))
		}
		return true
	})
}

// DigestOnce sends every digest that is due and not yet sent: to the
// alert webhook (signed, with an event id naming the tenant, cadence and
// period, so a receiver drops a repeat) and to the Slack URL, then records
// it sent. A tenant whose digest fails is tried again next time, and the
// others go on.
func (p *Publisher) DigestOnce(ctx context.Context) error {
	return p.eachTenant(ctx, stageDigest, p.digestTenant)
}

// cadence returns a tenant's digest cadence.
func (p *Publisher) cadence(tenant string) string {
	t, _ := p.parts.Tenants.Get(tenant)
	if t.Digest != "" {
		return t.Digest
	}
	if p.cfg.Digest == "" {
		return digest.Off
	}
	return p.cfg.Digest
}

func (p *Publisher) digestTenant(ctx context.Context, tenant string) error {
	cadence := p.cadence(tenant)
	if cadence == digest.Off {
		return nil
	}
	if p.cfg.AlertWebhookURL == "" && p.cfg.DigestSlackURL == "" {
		return errors.New("digest: neither CXPULSE_ALERT_WEBHOOK_URL nor CXPULSE_DIGEST_SLACK_URL is set (where digests go)")
	}
	t, _ := p.parts.Tenants.Get(tenant)
	sys := t.Periods
	closed := digest.Closed(sys, cadence, p.now())
	name, memo := sys.Name(closed), tenant+"\x00"+cadence
	p.digestMu.Lock()
	known := p.digests[memo] == name
	p.digestMu.Unlock()
	if known {
		return nil
	}
	sent, err := p.outbox.DigestSent(ctx, tenant, cadence)
	if err != nil {
		return err
	}
	if sent != name {
		d, err := p.buildDigest(ctx, tenant, cadence, sys, closed)
		if err != nil {
			return err
		}
		if err := p.sendDigest(ctx, d); err != nil {
			return err
		}
		if err := p.outbox.MarkDigest(ctx, tenant, cadence, name); err != nil {
			return err
		}
		p.log.Info("digest sent", zap.String("tenant", tenant), zap.String("period", name))
	}
	p.digestMu.Lock()
	p.digests[memo] = name
	p.digestMu.Unlock()
	return nil
}

// buildDigest reads what a digest reports: the period's and the previous
// one's sums (scope all), the alert states, and the themes of the period's
// UTC hours (a day) or days (a week).
func (p *Publisher) buildDigest(ctx context.Context, tenant, cadence string, sys period.System, closed period.Period) (*digest.Digest, error) {
	prev := sys.Previous(closed)
	sums, err := p.store.PeriodSums(ctx, tenant, "all", sys, []periodbuckets.Span{periodbuckets.SpanOf(closed), periodbuckets.SpanOf(prev)})
	if err != nil {
		return nil, err
	}
	raw, err := p.outbox.AlertStates(ctx, tenant)
	if err != nil {
		return nil, err
	}
	states := make([]*alerts.Alert, 0, len(raw))
	for fp, js := range raw {
		al := &alerts.Alert{}
		if err := json.Unmarshal([]byte(js), al); err != nil {
			return nil, fmt.Errorf("alert state %s of %s: %w", fp, tenant, err)
		}
		states = append(states, al)
	}
	from, to := sys.Bounds(closed)
	th, err := p.store.Themes(ctx, tenant, "all", themeBucketsBetween(from, to, cadence))
	if err != nil {
		return nil, err
	}
	return digest.Build(digest.Input{Tenant: tenant, Cadence: cadence, Sys: sys, Period: closed, This: &sums[0], Previous: &sums[1],
		States: states, Terms: alerts.TopTerms(th.Detractors, th.Rest, th.Tenant, topTerms)}), nil
}

// themeBucketsBetween names the theme buckets that overlap [from, to):
// hours for a daily digest, UTC days for a weekly one.
func themeBucketsBetween(from, to time.Time, cadence string) []string {
	prefix, size := "h", time.Hour
	if cadence == digest.Weekly {
		prefix, size = "d", 24*time.Hour
	}
	var out []string
	for b := from.UnixMilli() / size.Milliseconds(); b*size.Milliseconds() < to.UnixMilli(); b++ {
		out = append(out, prefix+strconv.FormatInt(b, 10))
	}
	return out
}

// sendDigest posts a digest to the alert webhook and to the Slack URL.
func (p *Publisher) sendDigest(ctx context.Context, d *digest.Digest) error {
	client := &http.Client{Timeout: 10 * time.Second}
	if p.cfg.AlertWebhookURL != "" {
		b, err := json.Marshal(d)
		if err != nil {
			return fmt.Errorf("encoding the digest of %s: %w", d.Tenant, err)
		}
		id := sha256.Sum256([]byte("digest\x00" + d.Tenant + "\x00" + d.Cadence + "\x00" + d.Period))
		if err := alerts.PostSigned(ctx, client, p.cfg.AlertWebhookURL, b, hex.EncodeToString(id[:16]), p.cfg.AlertWebhookSecret); err != nil {
			return fmt.Errorf("sending the digest of %s to the webhook: %w", d.Tenant, err)
		}
	}
	if p.cfg.DigestSlackURL != "" {
		b, err := json.Marshal(struct {
			Text   string         `json:"text"`
			Blocks []digest.Block `json:"blocks"`
		}{d.Text, d.Blocks})
		if err != nil {
			return fmt.Errorf("encoding the digest of %s: %w", d.Tenant, err)
		}
		if err := alerts.PostSigned(ctx, client, p.cfg.DigestSlackURL, b, "", ""); err != nil {
			return fmt.Errorf("sending the digest of %s to Slack: %w", d.Tenant, err)
		}
	}
	return nil
}
