package erasure

import (
	"encoding/json"
	"fmt"
	"time"
)

// Receipt is what an erasure answers.
type Receipt struct {
	Tenant   string    `json:"tenant"`
	Customer string    `json:"customer"`
	ErasedAt time.Time `json:"erased_at"`
	// CoversUntil is the instant up to which the customer's events are
	// dropped wherever they enter: ErasedAt, or the occurred_at of the
	// latest event retracted when one was dated ahead of the erasure.
	CoversUntil time.Time `json:"covers_until"`
	// EventsRetracted counts the events of the customer that windows or
	// calendar periods held and no longer do.
	EventsRetracted int `json:"events_retracted"`
	// WindowsAndPeriodsChanged names the windows and the calendar periods
	// (every kind holding a changed day) whose figures changed.
	WindowsAndPeriodsChanged []string `json:"windows_and_periods_changed"`
	// KeysRemoved counts the Redis keys and entries that named the
	// customer and were removed.
	KeysRemoved   int  `json:"keys_removed"`
	AlreadyErased bool `json:"already_erased,omitempty"`
	// Note says what an erasure by customer cannot reach.
	Note string `json:"note"`
}

// NoteUncovered is every receipt's note.
const NoteUncovered = "events without a customer_id cannot be erased by customer and stay counted; " +
	"the input topics keep the customer's events until their retention deletes them (docs/privacy.md)"

// stored is a receipt as Redis keeps it: without tenant and customer, so
// that no value names the customer.
type stored struct {
	ErasedAt                 time.Time `json:"erased_at"`
	CoversUntil              time.Time `json:"covers_until"`
	EventsRetracted          int       `json:"events_retracted"`
	WindowsAndPeriodsChanged []string  `json:"windows_and_periods_changed"`
	KeysRemoved              int       `json:"keys_removed"`
}

// prefix is the stored receipt's JSON without keys_removed and its
// closing brace: the erasure script completes it.
func (s *stored) prefix() ([]byte, error) {
	b, err := json.Marshal(struct {
		ErasedAt                 time.Time `json:"erased_at"`
		CoversUntil              time.Time `json:"covers_until"`
		EventsRetracted          int       `json:"events_retracted"`
		WindowsAndPeriodsChanged []string  `json:"windows_and_periods_changed"`
	}{s.ErasedAt, s.CoversUntil, s.EventsRetracted, s.WindowsAndPeriodsChanged})
	if err != nil {
		return nil, fmt.Errorf("encoding a receipt: %w", err)
	}
	return b[:len(b)-1], nil
}

// parseStored reads a stored receipt. One stored before receipts had
// covers_until covers up to its erased_at.
func parseStored(s string) (*stored, error) {
	var r stored
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		return nil, fmt.Errorf("stored receipt %q: %w", s, err)
	}
	if r.CoversUntil.Before(r.ErasedAt) {
		r.CoversUntil = r.ErasedAt
	}
	return &r, nil
}

// receipt completes a stored receipt for tenant and customer.
func (s *stored) receipt(tenant, customer string, already bool) Receipt {
	changed := s.WindowsAndPeriodsChanged
	if changed == nil {
		changed = []string{}
	}
	return Receipt{Tenant: tenant, Customer: customer, ErasedAt: s.ErasedAt, CoversUntil: s.CoversUntil, EventsRetracted: s.EventsRetracted,
		WindowsAndPeriodsChanged: changed, KeysRemoved: s.KeysRemoved, AlreadyErased: already, Note: NoteUncovered}
}
