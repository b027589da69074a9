package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cxpulse/cxpulse/internal/dedupe"
	"github.com/cxpulse/cxpulse/internal/mpack"
	"github.com/cxpulse/cxpulse/internal/store/keys"
)

// The erasure keys (named in package keys): per tenant the erasures done
// (keyed hash of the customer → receipt), and per customer the
// contribution index: a list of entries pushed as their events are
// applied (AppendIndexEntry frames them), each an event id and
// what the event counted (a remembered-id record without the customer),
// the later entry of an id replacing the earlier (a revision). It is kept
// while a window or calendar period can hold the customer's latest event.

// IndexEntry adds one event to its customer's contribution index, kept
// until Until.
type IndexEntry struct {
	Customer string
	Record   dedupe.Record
	Until    time.Time
}

// Erase makes a slice the erasure of one customer: besides its deltas and
// its customer update, the script removes the customer's index, the
// remembered ids of their events, the referral codes that resolve to them,
// their comment samples and the entries of the comment-word lists that
// name them, and records the receipt; all of it checked against what the
// erasure was planned from.
type Erase struct {
	Customer string // as stored (the pseudonym when the tenant pseudonymizes)
	Field    string // the keyed hash of the customer in keys.Erased
	// Receipt is the receipt's JSON object without its closing brace: the
	// script adds "keys_removed".
	Receipt []byte
	// Again is the receipt of the customer's earlier erasure, as read,
	// when the customer was erased before and something of theirs was
	// found since: the script checks it is still the one stored, keeps it
	// under the field followed by "#" and the new erasure's instant (so
	// that the count of erasures moves and every instance reads them
	// again), and stores the new receipt. "" for a first erasure: the
	// script answers AlreadyErased if the customer is erased meanwhile.
	Again string
	// Index is the customer's index as the erasure read it: the script
	// refuses an erasure whose index changed since (IndexMoved). It is
	// deleted whole; Removed counts the events gone.
	Index   string
	Removed int
	IDs     []string // remembered ids to forget
	Codes   []string // referral codes to remove if they still name the customer
	// Samples are the comment samples to remove: the scope and the id of
	// each event that may have left one.
	Samples []Sample
	// Words are the entries of comment-word lists that name the customer.
	Words []ListEntry
	// Queued are the alert notifications waiting for a sink that quote the
	// customer, rewritten without them; one already delivered is left.
	Queued []ListRewrite
	// Alerts are the alert states to rewrite without the customer's
	// comments and words; each must still be as read (StaleRead).
	Alerts []AlertRewrite
}

// ListEntry is one element of a Redis list.
type ListEntry struct{ Key, Element string }

// ListRewrite replaces an element of a Redis list.
type ListRewrite struct{ Key, Old, New string }

// CommentWords are the theme words of one commented event of a customer
// (its revision), kept until Until (keys.CommentWords of the day it
// occurred). Without Terms (nil), they remove the event's earlier entries
// from the list of that day instead (a revision replaced them).
type CommentWords struct {
	Customer, ID string
	Revision     int64
	At           time.Time
	Terms        []string
	Until        time.Time
}

// commentWordsEntry is the JSON of an entry's words.
type commentWordsEntry struct {
	Revision int64    `json:"revision"`
	Terms    []string `json:"terms"`
}

// AppendCommentWords frames one entry of a comment-word list: the
// customer and the event id (AppendIndexEntry framing, which
// CommentWordsPrefix starts), then its revision and words as JSON.
func AppendCommentWords(b []byte, cw *CommentWords) ([]byte, error) {
	words, err := json.Marshal(commentWordsEntry{Revision: cw.Revision, Terms: cw.Terms})
	if err != nil {
		return nil, fmt.Errorf("encoding comment words: %w", err)
	}
	return append(CommentWordsPrefix(b, cw.Customer, cw.ID), words...), nil
}

// CommentWordsPrefix is how the comment-word entries of one event start.
func CommentWordsPrefix(b []byte, customer, id string) []byte {
	return AppendIndexEntry(b, customer, []byte(id))
}

// ParseCommentWords reads one entry of a comment-word list (At and Until
// are not stored in it).
func ParseCommentWords(s string) (*CommentWords, error) {
	customer, rest, ok := cutField(s)
	id, rest, ok2 := cutField(rest)
	if !ok || !ok2 {
		return nil, fmt.Errorf("comment-word entry is corrupt: %q", s[:min(len(s), 40)])
	}
	var e commentWordsEntry
	if err := json.Unmarshal([]byte(rest), &e); err != nil {
		return nil, fmt.Errorf("comment-word entry's words: %w", err)
	}
	return &CommentWords{Customer: customer, ID: id, Revision: e.Revision, Terms: e.Terms}, nil
}

// SamplePrefix is how a stored comment sample of event id starts: a sample
// is stored as JSON starting with its id, so the prefix finds it without
// decoding.
func SamplePrefix(id string) (string, error) {
	b, err := json.Marshal(id)
	if err != nil {
		return "", fmt.Errorf("encoding a sample id: %w", err)
	}
	return `{"id":` + string(b) + `,`, nil
}

// AlertRewrite replaces a stored alert state.
type AlertRewrite struct{ Fingerprint, Old, New string }

// RestoreErasures puts back erasures (keyed hash → receipt) that a
// tenant's erased hash lacks, leaving those it holds.
func (s *Store) RestoreErasures(ctx context.Context, tenant string, erasures map[string]string) error {
	pipe := s.rdb.Pipeline()
	for field, rec := range erasures {
		pipe.HSetNX(ctx, keys.Erased(tenant), field, rec)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("restoring the erasures of tenant %s: %w", tenant, err)
	}
	return nil
}

// IndexEvent is one entry of a contribution index: an event id and its
// record (dedupe.Decode reads it).
type IndexEvent struct{ ID, Record string }

// AppendIndexEntry appends an index entry: the lengths in decimal, each
// followed by ':', frame the id and the record.
func AppendIndexEntry(b []byte, id string, rec []byte) []byte {
	b = append(strconv.AppendInt(b, int64(len(id)), 10), ':')
	b = append(b, id...)
	b = append(strconv.AppendInt(b, int64(len(rec)), 10), ':')
	return append(b, rec...)
}

// ParseIndex reads a contribution index: its entries in the order they
// were appended (a later entry of an id replaces the earlier).
func ParseIndex(s string) ([]IndexEvent, error) {
	var out []IndexEvent
	for s != "" {
		id, rest, ok := cutField(s)
		if !ok {
			return nil, fmt.Errorf("contribution index is corrupt at %q", s[:min(len(s), 40)])
		}
		rec, rest, ok := cutField(rest)
		if !ok {
			return nil, fmt.Errorf("contribution index is corrupt at %q", rest[:min(len(rest), 40)])
		}
		out = append(out, IndexEvent{ID: id, Record: rec})
		s = rest
	}
	return out, nil
}

// cutField reads one field framed by AppendIndexEntry (its length in
// decimal, ':', then the field) from the start of s.
func cutField(s string) (field, rest string, ok bool) {
	n, after, ok := strings.Cut(s, ":")
	k, err := strconv.Atoi(n)
	if !ok || err != nil || k < 0 || k > len(after) {
		return "", s, false
	}
	return after[:k], after[k:], true
}

// erasureArgs writes what the apply script reads of erasures, in four
// arguments: the number of the erased hash in KEYS, the count of erasures
// the slice was planned with, the list entries as one MessagePack array
// of (key number, entry, ms to keep it from now) (contribution index
// entries and comment words; ms 0 removes the list's elements that start
// with the entry instead), and the erasure as another (empty when the
// slice erases nobody): customer, field, receipt, the earlier receipt
// ("" for none), index key number, the index as read, the number of
// events removed, then counted lists of ids, of codes, of (scope number,
// sample prefix) pairs, of (key number, list element) pairs and of (key
// number, list element, its replacement) triples, the alerts key number
// and a counted list of (fingerprint, state as read, new state) triples.
func erasureArgs(sl *Slice, scopeIndex map[string]int, keyOf func(string) int) ([]any, error) {
	erased := keyOf(keys.Erased(sl.Tenant))
	index := mpack.AppendArray(make([]byte, 0, 5+160*len(sl.Index)), 3*(len(sl.Index)+len(sl.CommentWords)))
	var rec, entry []byte
	for i := range sl.Index {
		e := &sl.Index[i]
		r := e.Record
		r.CustomerID = "" // the key names the customer
		r.Arrival = time.UnixMilli(0)
		rec = r.AppendTo(rec[:0])
		entry = AppendIndexEntry(entry[:0], r.ID, rec)
		index = mpack.AppendString(mpack.AppendInt(index, int64(keyOf(keys.Index(sl.Tenant, e.Customer)))), entry)
		index = mpack.AppendInt(index, max(1, e.Until.Sub(sl.Now).Milliseconds()))
	}
	for i := range sl.CommentWords {
		cw := &sl.CommentWords[i]
		key := keys.CommentWords(sl.Tenant, cw.At.UnixMilli()/(24*time.Hour).Milliseconds())
		keep := int64(0) // a revision's earlier words: removed
		if cw.Terms != nil {
			var err error
			if entry, err = AppendCommentWords(entry[:0], cw); err != nil {
				return nil, err
			}
			keep = max(1, cw.Until.Sub(sl.Now).Milliseconds())
		} else {
			entry = CommentWordsPrefix(entry[:0], cw.Customer, cw.ID)
		}
		index = mpack.AppendInt(mpack.AppendString(mpack.AppendInt(index, int64(keyOf(key))), entry), keep)
	}
	er := sl.Erase
	if er == nil {
		return []any{erased, sl.Erasures, index, mpack.AppendArray(nil, 0)}, nil
	}
	n := 7 + 5 + len(er.IDs) + len(er.Codes) + 2*len(er.Samples) + 2*len(er.Words) + 3*len(er.Queued) + 2 + 3*len(er.Alerts)
	b := mpack.AppendArray(nil, n)
	b = mpack.AppendString(b, er.Customer)
	b = mpack.AppendString(b, er.Field)
	b = mpack.AppendString(b, er.Receipt)
	b = mpack.AppendString(b, er.Again)
	b = mpack.AppendInt(b, int64(keyOf(keys.Index(sl.Tenant, er.Customer))))
	b = mpack.AppendString(b, er.Index)
	b = mpack.AppendInt(b, int64(er.Removed))
	b = mpack.AppendInt(b, int64(len(er.IDs)))
	for _, id := range er.IDs {
		b = mpack.AppendString(b, id)
	}
	b = mpack.AppendInt(b, int64(len(er.Codes)))
	for _, c := range er.Codes {
		b = mpack.AppendString(b, c)
	}
	b = mpack.AppendInt(b, int64(len(er.Samples)))
	for _, smp := range er.Samples {
		prefix, err := SamplePrefix(smp.ID)
		if err != nil {
			return nil, err
		}
		b = mpack.AppendString(mpack.AppendInt(b, int64(scopeIndex[smp.Scope])), prefix)
	}
	b = mpack.AppendInt(b, int64(len(er.Words)))
	for _, w := range er.Words {
		b = mpack.AppendString(mpack.AppendInt(b, int64(keyOf(w.Key))), w.Element)
	}
	b = mpack.AppendInt(b, int64(len(er.Queued)))
	for _, q := range er.Queued {
		b = mpack.AppendString(mpack.AppendString(mpack.AppendInt(b, int64(keyOf(q.Key))), q.Old), q.New)
	}
	b = mpack.AppendInt(b, int64(keyOf(keys.Alerts(sl.Tenant))))
	b = mpack.AppendInt(b, int64(len(er.Alerts)))
	for _, a := range er.Alerts {
		b = mpack.AppendString(mpack.AppendString(mpack.AppendString(b, a.Fingerprint), a.Old), a.New)
	}
	return []any{erased, sl.Erasures, index, b}, nil
}
