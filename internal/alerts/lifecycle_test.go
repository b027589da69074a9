package alerts

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestLifecycle(t *testing.T) {
	l := Lifecycle{PendingFor: 10 * time.Minute, KeepFiringFor: time.Hour, ResendEvery: time.Minute}
	t0 := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	a := &Alert{Fingerprint: "f"}
	step := func(holds bool, m int) (string, bool) {
		_, notify := l.Step(a, holds, at(m))
		if notify {
			a.LastSent = at(m)
			if a.State == Resolved {
				a.SentResolved = true
			}
		}
		return a.State, notify
	}
	s, n := step(true, 0)
	require.Equal(t, Pending, s)
	require.False(t, n)
	s, _ = step(false, 5) // the condition lapses while pending: forgotten
	require.Equal(t, "", s)
	step(true, 6)
	s, n = step(true, 16) // held for pending_for
	require.Equal(t, Firing, s)
	require.True(t, n)
	require.Equal(t, at(6), a.StartsAt)
	_, n = step(true, 16)
	require.False(t, n, "no re-send within a minute")
	_, n = step(false, 17)
	require.True(t, n, "re-sent a minute later, still firing while below")
	s, _ = step(false, 16+59)
	require.Equal(t, Firing, s, "keep_firing_for not yet over")
	s, n = step(false, 16+60)
	require.Equal(t, Resolved, s)
	require.True(t, n)
	require.Equal(t, at(76), a.EndsAt)
	_, n = step(false, 80)
	require.False(t, n, "resolved is sent once")
	notif := l.Notify(a, at(80), "http://x")
	require.Equal(t, Resolved, notif.Status)
	require.Equal(t, at(76), notif.EndsAt)
	s, _ = step(true, 90) // a new episode
	require.Equal(t, Pending, s)
	require.True(t, a.EndsAt.IsZero())
}

func TestFingerprintIsTheLabelSet(t *testing.T) {
	a := Fingerprint(Labels("acme", "store=s1", Warning))
	require.Equal(t, a, Fingerprint(map[string]string{"severity": "warning", "scope": "store=s1", "tenant": "acme", "alertname": AlertName}))
	require.NotEqual(t, a, Fingerprint(Labels("acme", "store=s1", Critical)))
	require.Len(t, a, 16)
}
