package alerts

import (
	"fmt"
	"hash/fnv"
	"slices"
	"time"
)

// Alert states.
const (
	Pending  = "pending"
	Firing   = "firing"
	Resolved = "resolved"
)

// AlertName is the alertname label of every detractor-spike alert.
const AlertName = "DetractorSpike"

// Alert is one alert's state, kept in Redis between evaluations: its
// identity is its label set.
type Alert struct {
	Fingerprint string            `json:"fingerprint"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	State       string            `json:"state"`
	// ActiveAt is when the condition began to hold (pending since);
	// StartsAt when the alert fired; EndsAt when it resolved.
	ActiveAt time.Time `json:"activeAt"`
	StartsAt time.Time `json:"startsAt"`
	EndsAt   time.Time `json:"endsAt,omitzero"`
	// LastAbove is the last evaluation at which the condition held.
	LastAbove time.Time `json:"lastAbove"`
	// LastSent is when the firing alert was last sent; SentResolved says
	// whether its resolution was.
	LastSent     time.Time `json:"lastSent,omitzero"`
	SentResolved bool      `json:"sentResolved,omitempty"`
	// AlsoAffects are the larger scopes whose spike this alert's scope
	// explains (docs/alerts.md, explained scopes), sorted; the annotation
	// also_affects joins them.
	AlsoAffects []string `json:"also_affects,omitempty"`
}

// Labels returns the label set of a detractor-spike alert.
func Labels(tenant, scope string, sev Severity) map[string]string {
	return map[string]string{"alertname": AlertName, "tenant": tenant, "scope": scope, "severity": sev.String()}
}

// Fingerprint identifies a label set: FNV-1a 64 over the sorted
// name/value pairs, as 16 hex digits.
func Fingerprint(labels map[string]string) string {
	names := make([]string, 0, len(labels))
	for n := range labels {
		names = append(names, n)
	}
	slices.Sort(names)
	h := fnv.New64a()
	for _, n := range names {
		h.Write([]byte(n))
		h.Write([]byte{0xff})
		h.Write([]byte(labels[n]))
		h.Write([]byte{0xff})
	}
	return fmt.Sprintf("%016x", h.Sum64())
}

// Lifecycle holds the timing of alerts (docs/alerts.md).
type Lifecycle struct {
	// PendingFor is how long the condition must hold before firing.
	PendingFor time.Duration
	// KeepFiringFor is how long a firing alert stays firing after the
	// condition stopped holding.
	KeepFiringFor time.Duration
	// ResendEvery is how often a firing alert is sent again, with EndsAt
	// that far ahead three times over.
	ResendEvery time.Duration
}

// DefaultLifecycle is the docs/alerts.md timing with a one-minute re-send.
var DefaultLifecycle = Lifecycle{PendingFor: 0, KeepFiringFor: time.Hour, ResendEvery: time.Minute}

// Step advances an alert by one evaluation at now, the condition holding
// or not. It returns whether the alert changed and whether a notification
// is due (Firing: the firing alert; Resolved: its resolution). An alert
// that is inactive and was never sent has State "" afterwards: it can be
// forgotten.
func (l Lifecycle) Step(a *Alert, holds bool, now time.Time) (changed, notify bool) {
	if holds {
		if a.State == "" || a.State == Resolved {
			*a = Alert{Fingerprint: a.Fingerprint, Labels: a.Labels, Annotations: a.Annotations, State: Pending, ActiveAt: now}
		}
		// LastAbove is what keep_firing_for counts from: every
		// evaluation above threshold changes the stored state.
		a.LastAbove, changed = now, true
		if a.State == Pending && now.Sub(a.ActiveAt) >= l.PendingFor {
			a.State, a.StartsAt = Firing, a.ActiveAt
		}
		return changed, a.State == Firing && now.Sub(a.LastSent) >= l.ResendEvery
	}
	switch a.State {
	case Pending:
		a.State = ""
		return true, false
	case Firing:
		if now.Sub(a.LastAbove) >= l.KeepFiringFor {
			l.Resolve(a, now)
			return true, true
		}
		return false, now.Sub(a.LastSent) >= l.ResendEvery
	case Resolved:
		return false, !a.SentResolved
	}
	return false, false
}

// Resolve resolves a firing alert at now (after keep_firing_for, or at
// once when a critical alert supersedes a warning).
func (l Lifecycle) Resolve(a *Alert, now time.Time) {
	a.State, a.EndsAt, a.SentResolved = Resolved, now, false
}

// Notification is an alert as sent: Alertmanager's alert shape.
type Notification struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	Fingerprint  string            `json:"fingerprint"`
	GeneratorURL string            `json:"generatorURL"`
}

// Notify returns the notification of an alert at now: a firing alert ends
// three re-send periods ahead unless sent again; a resolved one at its
// resolution.
func (l Lifecycle) Notify(a *Alert, now time.Time, generatorURL string) Notification {
	n := Notification{Status: Firing, Labels: a.Labels, Annotations: a.Annotations, StartsAt: a.StartsAt,
		EndsAt: now.Add(3 * l.ResendEvery), Fingerprint: a.Fingerprint, GeneratorURL: generatorURL}
	if a.State == Resolved {
		n.Status, n.EndsAt = Resolved, a.EndsAt
	}
	return n
}
