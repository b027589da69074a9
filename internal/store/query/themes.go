package query

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cxpulse/cxpulse/internal/store/keys"
	"github.com/cxpulse/cxpulse/pkg/window"
)

// TermCounts sums the theme term counts of the given buckets ("h<hour>"
// or "d<day>") of one scope (or keys.OthersGroup): per term the comments
// holding it, and the number of comments.
func (r *Reader) TermCounts(ctx context.Context, tenant, scope string, buckets []string) (terms map[string]int64, comments int64, err error) {
	pipe := r.rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(buckets))
	for i, b := range buckets {
		cmds[i] = pipe.HGetAll(ctx, keys.Terms(tenant, scope, b))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, 0, fmt.Errorf("reading theme terms of %s %s: %w", tenant, scope, err)
	}
	out := map[string]int64{}
	for _, c := range cmds {
		for term, v := range c.Val() {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, 0, fmt.Errorf("theme term %q of %s %s: %q is not a count", term, tenant, scope, v)
			}
			if term == keys.CommentsField {
				comments += n
				continue
			}
			out[term] += n
		}
	}
	return out, comments, nil
}

// ThemesKept is the longest window whose themes are kept.
const ThemesKept = keys.ThemeDayKept

// ThemeBuckets names the theme buckets that hold a rolling window of the
// given length at now, chosen as a window's own buckets are (those that
// start after now − length, up to window.FutureTolerance ahead): hour
// buckets for a window up to keys.ThemeHourKept, day buckets (UTC days) up
// to keys.ThemeDayKept; longer windows are not kept.
func ThemeBuckets(length time.Duration, now time.Time) ([]string, error) {
	prefix, size := "h", time.Hour
	switch {
	case length <= keys.ThemeHourKept:
	case length <= keys.ThemeDayKept:
		prefix, size = "d", 24*time.Hour
	default:
		return nil, fmt.Errorf("theme terms are kept %s, less than %s", window.FormatDuration(keys.ThemeDayKept), window.FormatDuration(length))
	}
	first, last := window.Window{Length: length, Bucket: size}.Span(now)
	out := make([]string, 0, last-first+1)
	for b := first; b <= last; b++ {
		out = append(out, prefix+strconv.FormatInt(b, 10))
	}
	return out, nil
}

// Themes are the term counts of what a scope's detractors say against the
// rest of its tenant's NPS respondents over the same buckets.
type Themes struct {
	// Detractors are the scope's detractor comments: per term the comments
	// holding it, and how many comments.
	Detractors map[string]int64
	Comments   int64
	// Rest are the tenant's other NPS comments: other scopes' detractors
	// and every respondent who is not a detractor.
	Rest map[string]int64
	// Tenant are all the tenant's NPS comments (Detractors and Rest).
	Tenant map[string]int64
}

// Themes reads the term counts of a scope's detractors, the rest of the
// tenant's respondents and the whole tenant over the given buckets.
func (r *Reader) Themes(ctx context.Context, tenant, scope string, buckets []string) (*Themes, error) {
	det, comments, err := r.TermCounts(ctx, tenant, scope, buckets)
	if err != nil {
		return nil, err
	}
	all := det // scope all's detractors are the tenant's
	if scope != "all" {
		if all, _, err = r.TermCounts(ctx, tenant, "all", buckets); err != nil {
			return nil, err
		}
	}
	others, _, err := r.TermCounts(ctx, tenant, keys.OthersGroup, buckets)
	if err != nil {
		return nil, err
	}
	th := &Themes{Detractors: det, Comments: comments, Rest: maps.Clone(others), Tenant: map[string]int64{}}
	for term, n := range all {
		if rest := n - det[term]; rest > 0 {
			th.Rest[term] += rest
		}
	}
	for _, m := range []map[string]int64{all, others} {
		for term, n := range m {
			th.Tenant[term] += n
		}
	}
	return th, nil
}

// TenantTerms sums the term counts of every NPS comment of a tenant over
// the given buckets: the detractors' (scope all) and the others'.
func (r *Reader) TenantTerms(ctx context.Context, tenant string, buckets []string) (map[string]int64, error) {
	all, others, err := r.tenantTerms(ctx, tenant, buckets)
	if err != nil {
		return nil, err
	}
	for term, n := range others {
		all[term] += n
	}
	return all, nil
}

func (r *Reader) tenantTerms(ctx context.Context, tenant string, buckets []string) (detractors, others map[string]int64, err error) {
	if detractors, _, err = r.TermCounts(ctx, tenant, "all", buckets); err != nil {
		return nil, nil, err
	}
	if others, _, err = r.TermCounts(ctx, tenant, keys.OthersGroup, buckets); err != nil {
		return nil, nil, err
	}
	return detractors, others, nil
}
