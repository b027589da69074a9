// Package scores reads the cxpulse Redis view: one hash per tenant and
// scope, cxpulse:{<tenant>}:scores:<scope>, with fields <window>:<stat>,
// updated_at and seq. It turns a view hash into typed scores; computing
// them is left to the aggregator.
package scores

import (
	"strconv"
	"strings"
)

// Scores is the view of one scope: per window, every stat present. Counts
// are whole numbers; a ratio whose denominator is 0 is absent.
type Scores struct {
	Tenant    string                        `json:"tenant"`
	Scope     string                        `json:"scope"`
	UpdatedAt int64                         `json:"updated_at"`
	Seq       int64                         `json:"seq"`
	Windows   map[string]map[string]float64 `json:"windows"`
}

// Key returns the Redis key of a scope's view.
func Key(tenant, scope string) string {
	return "cxpulse:{" + tenant + "}:scores:" + scope
}

// FromHash turns the fields of a view hash into Scores. Fields that are not
// numbers are skipped.
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
		if err != nil {
			continue
		}
		if s.Windows[w] == nil {
			s.Windows[w] = map[string]float64{}
		}
		s.Windows[w][stat] = f
	}
	return s
}
