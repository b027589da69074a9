// Package scores reads the cxpulse Redis view: one hash per tenant and
// scope, cxpulse:{<tenant>}:scores:<scope>, with fields <window>:<stat>,
// updated_at and seq. It turns a view hash into typed scores; computing
// them is left to the aggregator.
package scores

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/cxpulse/cxpulse/pkg/period"
)

// Scores is the view of one scope: per window, and per to-date calendar
// period of the tenant (today, wtd, mtd, qtd, ytd), every stat present.
// Counts are whole numbers; a ratio whose denominator is 0 is absent.
type Scores struct {
	Tenant    string                        `json:"tenant"`
	Scope     string                        `json:"scope"`
	UpdatedAt int64                         `json:"updated_at"`
	Seq       int64                         `json:"seq"`
	Windows   map[string]map[string]float64 `json:"windows"`
	Periods   map[string]map[string]float64 `json:"periods,omitempty"`
}

// PeriodAliases are the to-date calendar periods a view carries, as its
// field prefixes.
var PeriodAliases = period.Aliases

// Key returns the Redis key of a scope's view.
func Key(tenant, scope string) string {
	return "cxpulse:{" + tenant + "}:scores:" + scope
}

// FromHash turns the fields of a view hash into Scores. Fields that are not
// finite numbers are skipped.
func FromHash(tenant, scope string, fields map[string]string) Scores {
	s := Scores{Tenant: tenant, Scope: scope, Windows: map[string]map[string]float64{}}
	for k, v := range fields {
		switch k {
		case "updated_at":
			s.UpdatedAt, _ = strconv.ParseInt(v, 10, 64)
			continue
		case "seq":
			s.Seq, _ = strconv.ParseInt(v, 10, 64)
			continue
		}
		w, stat, ok := strings.Cut(k, ":")
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			continue
		}
		into := s.Windows
		if slices.Contains(PeriodAliases, w) {
			if s.Periods == nil {
				s.Periods = map[string]map[string]float64{}
			}
			into = s.Periods
		}
		if into[w] == nil {
			into[w] = map[string]float64{}
		}
		into[w][stat] = f
	}
	return s
}

// ErrNotFound is returned by Get for a scope without data.
var ErrNotFound = errors.New("no scores for this tenant and scope")

// Reader reads views from Redis, for Go apps that share the aggregator's
// Redis (or a replica of it). Each Get is one HGETALL.
type Reader struct {
	rdb redis.UniversalClient
}

// NewReader returns a Reader over rdb (a *redis.Client or a cluster client).
func NewReader(rdb redis.UniversalClient) *Reader { return &Reader{rdb: rdb} }

// Get returns the scores of one scope ("all", "store=42",
// "channel=web,region=eu").
func (r *Reader) Get(ctx context.Context, tenant, scope string) (Scores, error) {
	fields, err := r.rdb.HGetAll(ctx, Key(tenant, scope)).Result()
	if err != nil {
		return Scores{}, fmt.Errorf("reading scores of %s %s: %w", tenant, scope, err)
	}
	if len(fields) == 0 {
		return Scores{}, fmt.Errorf("%s %s: %w", tenant, scope, ErrNotFound)
	}
	return FromHash(tenant, scope, fields), nil
}

// Stat returns one stat of one window and whether it is present: counts
// always are; a ratio whose denominator is 0 is not.
func (s Scores) Stat(window, stat string) (float64, bool) {
	v, ok := s.Windows[window][stat]
	return v, ok
}
