// Package importer brings history into cxpulse: it reads CSV or NDJSON
// files, maps their rows to events, checks each one as ingest and the
// aggregator would (the contract, the tenants file, the time rule), sends
// the good ones to Kafka or ingest, and writes the others, with their
// reasons, to a rejects file. A ledger in Redis makes importing the same
// rows again, at any later time, send nothing twice.
package importer

import (
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cxpulse/cxpulse/internal/tenants"
	"github.com/cxpulse/cxpulse/internal/timerule"
	"github.com/cxpulse/cxpulse/pkg/events"
)

// DefaultBatch is how many events go to the destination at once (ingest's
// largest request).
const DefaultBatch = 1000

// Options configure an import.
type Options struct {
	// Mapping turns CSV rows into events; for NDJSON only Tenant (when
	// set, every event must be of it) is used.
	Mapping Mapping
	// Format is FormatCSV or FormatNDJSON; "" takes it from each file's
	// extension.
	Format string
	// Sink is where the events go; Ledger what was sent before.
	Sink   Sink
	Ledger *Ledger
	// Tenants and Rule check tenants, currencies and times as the
	// aggregator would.
	Tenants *tenants.Registry
	Rule    *timerule.Rule
	// Rejects receives the rejected rows as CSV; nil discards them.
	Rejects io.Writer
	// Progress receives progress lines: redrawn in place on a terminal,
	// else one every few seconds. Nil for none.
	Progress io.Writer
	Terminal bool
	// Now is the clock of the time rule. Default time.Now.
	Now func() time.Time
	// Batch is the number of events sent at once. Default DefaultBatch.
	Batch int
	// Stdin is read for the file "-". Default os.Stdin.
	Stdin io.Reader
	// Erased reports whether an event belongs to an erased customer (it
	// is skipped, never sent); nil for none.
	Erased func(context.Context, *events.Event) (bool, error)
}

// Summary is what an import did.
type Summary struct {
	Read     int64 `json:"read"`
	Sent     int64 `json:"sent"`
	Rejected int64 `json:"rejected"`
	Skipped  int64 `json:"skipped_already_imported"`
	Erased   int64 `json:"skipped_erased"`
	IDsFixed int64 `json:"ids_written_as_integers"`
	// IDsFixedExample is the first such id, as the file wrote it.
	IDsFixedExample string `json:"ids_written_as_integers_example,omitempty"`
	// Conflicts are rows whose id and revision an earlier import sent for
	// another event (another metric, time or score): not sent.
	// ConflictExample names the first (line and id).
	Conflicts       int64  `json:"conflicts"`
	ConflictExample string `json:"conflict_example,omitempty"`
	// NewTenants are the tenants, with no tenants file to check them
	// against, that no import sent events of before (a mistyped name
	// shows here).
	NewTenants []string `json:"new_tenants,omitempty"`
	Seconds    float64  `json:"seconds"`
}

// pending is a checked event waiting to be sent, with what a reject of it
// would say.
type pending struct {
	ev   events.Event
	at   string // its line (file:line when several files are imported)
	orig []string
}

// run is one import under way.
type run struct {
	opts     Options
	sum      Summary
	read     atomic.Int64 // rows read, for progress
	rejected atomic.Int64
	bytes    atomic.Int64
	total    int64 // bytes of every file, 0 when unknown
	rejects  *csv.Writer
	header   bool // the rejects header is written
	batch    []pending
	seen     map[string]bool  // tenant, id and revision sent in this run
	tenants  map[string]bool  // tenants whose ledger was looked at
	occur    map[[16]byte]int // rows of the same content so far
	file     string
	many     bool // several files: reject lines name theirs
}

// Import imports files in order ("-" is stdin) and returns what it did.
// A bad row never stops it; a file that cannot be read, a mapping that
// does not fit a file's header or a destination that keeps failing does.
func Import(ctx context.Context, opts Options, files []string) (Summary, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Batch <= 0 {
		opts.Batch = DefaultBatch
	}
	if opts.Stdin == nil {
		opts.Stdin = os.Stdin
	}
	if err := checkZone(&opts, files); err != nil {
		return Summary{}, err
	}
	r := &run{opts: opts, seen: map[string]bool{}, tenants: map[string]bool{}, occur: map[[16]byte]int{}, many: len(files) > 1}
	if opts.Rejects != nil {
		r.rejects = csv.NewWriter(opts.Rejects)
	}
	for _, f := range files {
		if f == "-" {
			r.total = 0
			break
		}
		if st, err := os.Stat(f); err == nil {
			r.total += st.Size()
		}
	}
	began := time.Now()
	stop := r.showProgress(began)
	err := r.files(ctx, files)
	stop()
	r.sum.Read, r.sum.Rejected = r.read.Load(), r.rejected.Load()
	r.sum.Seconds = time.Since(began).Seconds()
	if r.rejects != nil {
		r.rejects.Flush()
		err = errors.Join(err, r.rejects.Error())
	}
	return r.sum, err
}

func (r *run) files(ctx context.Context, files []string) error {
	for _, f := range files {
		if err := r.file1(ctx, f); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
	}
	return r.flush(ctx)
}

func (r *run) file1(ctx context.Context, path string) error {
	format := r.opts.Format
	if format == "" {
		if format = FormatOf(path); format == "" {
			return errors.New("cannot tell the format from the name: give --format csv or --format ndjson")
		}
	}
	var in io.Reader = r.opts.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	in = counter{r: in, n: &r.bytes}
	r.file = path
	var rd reader
	var b *binding
	switch format {
	case FormatCSV:
		c, err := newCSV(in)
		if err != nil {
			return err
		}
		if b, err = r.opts.Mapping.bind(c.header); err != nil {
			return err
		}
		rd = c
		r.writeRejectsHeader(c.header)
	case FormatNDJSON:
		n, err := newNDJSON(in)
		if err != nil {
			return err
		}
		rd = n
		r.writeRejectsHeader([]string{"event"})
	default:
		return fmt.Errorf("--format %q: want csv or ndjson", format)
	}
	dec := events.NewDecoder(events.Strict)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		rw, err := rd.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("reading: %w", err)
		}
		r.read.Add(1)
		orig := rw.cols
		if rw.raw != nil {
			orig = []string{string(rw.raw)}
		}
		if rw.err != nil {
			r.reject(r.lineOf(rw.line), orig, []events.Problem{{Reason: rw.err.Error()}})
			continue
		}
		var ev events.Event
		var ps []events.Problem
		if b != nil {
			ev, ps = b.event(rw.cols)
		} else {
			var derr error
			ev, _, derr = dec.Decode(rw.raw)
			ps = problemsOf(derr)
		}
		if len(ps) == 0 {
			ps = r.check(&ev, b != nil)
		}
		if len(ps) > 0 {
			r.reject(r.lineOf(rw.line), orig, ps)
			continue
		}
		if r.opts.Erased != nil {
			erased, err := r.opts.Erased(ctx, &ev)
			if err != nil {
				return err
			}
			if erased {
				r.sum.Erased++ // its customer asked to be forgotten
				continue
			}
		}
		key := ev.Tenant + "\x00" + ev.ID + "\x00" + strconv.FormatInt(ev.Revision, 10)
		if r.seen[key] {
			r.sum.Skipped++ // the same event twice in this import
			continue
		}
		r.seen[key] = true
		r.batch = append(r.batch, pending{ev: ev, at: r.lineOf(rw.line), orig: orig})
		if len(r.batch) >= r.opts.Batch {
			if err := r.flush(ctx); err != nil {
				return err
			}
		}
	}
	if b != nil {
		if r.sum.IDsFixed == 0 {
			r.sum.IDsFixedExample = b.fixedExample
		}
		r.sum.IDsFixed += int64(b.fixedIDs)
	}
	return nil
}

// check applies --tenant and the tenants file (known tenant, customer
// pseudonyms), gives an event without an id its deterministic one, then
// applies the contract (for built events), the currency and the time rule.
func (r *run) check(ev *events.Event, built bool) []events.Problem {
	if t := r.opts.Mapping.Tenant; !built && t != "" && ev.Tenant != t {
		return []events.Problem{{Field: "tenant", Reason: fmt.Sprintf("%q is not the tenant imported (--tenant %s)", ev.Tenant, t)}}
	}
	t, known := r.opts.Tenants.Get(ev.Tenant)
	if !known {
		return []events.Problem{{Field: "tenant", Reason: fmt.Sprintf("%q is not in the tenants file", ev.Tenant)}}
	}
	// Customer ids become pseudonyms first (pseudonymize_customer_ids),
	// so that no derived id is made from a plain one.
	t.Pseudonymize(ev)
	if ev.ID == "" {
		ev.ID = r.rowID(ev) // a CSV row (NDJSON events carry their ids by contract)
	}
	if built {
		if ps := problemsOf(ev.Validate()); len(ps) > 0 {
			return ps
		}
	}
	if why := t.CurrencyProblem(ev.Tenant, ev); why != "" {
		return []events.Problem{{Field: tenants.CurrencyField, Reason: why}}
	}
	if _, detail := r.opts.Rule.Check(ev, r.opts.Now()); detail != "" {
		field, reason, _ := strings.Cut(detail, ": ")
		return []events.Problem{{Field: field, Reason: reason}}
	}
	return nil
}

// rowID is the id of a row that has none: a hash of its tenant, its event
// (everything but the id) and how many rows of that same event came
// before it in this import. The same rows imported again, from this file
// or another, get the same ids; two identical rows are two events.
func (r *run) rowID(ev *events.Event) string {
	b, _ := json.Marshal(ev) // ev.ID is empty here
	content := sha256.Sum256(append([]byte(ev.Tenant+"\x00"), b...))
	var key [16]byte
	copy(key[:], content[:16])
	n := r.occur[key]
	r.occur[key] = n + 1
	h := sha256.Sum256(append(content[:], strconv.Itoa(n)...))
	return "imp-" + hex.EncodeToString(h[:16])
}

// flush sends the batch: events an earlier import sent are skipped, those
// the destination refuses are rejected, and the rest are recorded in the
// ledger once acknowledged.
func (r *run) flush(ctx context.Context) error {
	if len(r.batch) == 0 {
		return nil
	}
	batch := r.batch
	r.batch = r.batch[:0:0]
	evs := make([]events.Event, len(batch))
	for i := range batch {
		evs[i] = batch[i].ev
	}
	seen, err := r.opts.Ledger.Seen(ctx, evs)
	if err != nil {
		return err
	}
	var send []events.Event
	var from []int
	for i, s := range seen {
		switch s {
		case SentSame:
			r.sum.Skipped++
			continue
		case SentOther:
			if r.sum.Conflicts == 0 {
				r.sum.ConflictExample = fmt.Sprintf("line %s, id %s", batch[i].at, evs[i].ID)
			}
			r.sum.Conflicts++
			continue
		}
		send, from = append(send, evs[i]), append(from, i)
	}
	if err := r.noteNewTenants(ctx, send); err != nil {
		return err
	}
	if len(send) == 0 {
		return nil
	}
	refused, err := r.opts.Sink.Send(ctx, send)
	if err != nil {
		return err
	}
	var sent []events.Event
	for k, e := range refused {
		if e != nil {
			p := batch[from[k]]
			r.reject(p.at, p.orig, problemsOf(e))
			continue
		}
		sent = append(sent, send[k])
	}
	if err := r.opts.Ledger.Mark(ctx, sent); err != nil {
		return err
	}
	r.sum.Sent += int64(len(sent))
	return nil
}

// problemsOf lists the problems of a validation error (or of a decoding
// error, as one problem).
func problemsOf(err error) []events.Problem {
	if err == nil {
		return nil
	}
	var out []events.Problem
	for _, e := range unwrapAll(err) {
		var verr *events.ValidationError
		if errors.As(e, &verr) {
			out = append(out, verr.Problems...)
		}
	}
	if len(out) == 0 {
		out = []events.Problem{{Reason: err.Error()}}
	}
	return out
}

func unwrapAll(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func (r *run) writeRejectsHeader(header []string) {
	if r.rejects == nil || r.header {
		return
	}
	r.header = true
	_ = r.rejects.Write(append([]string{"line", "field", "reason"}, header...))
}

// reject writes a row to the rejects file: its line at (file:line when
// several files are imported), the fields and the reasons (each joined by
// "; ", in the same order), then the row as read.
func (r *run) reject(at string, orig []string, ps []events.Problem) {
	r.rejected.Add(1)
	if r.rejects == nil {
		return
	}
	fields := make([]string, len(ps))
	reasons := make([]string, len(ps))
	for i, p := range ps {
		fields[i], reasons[i] = p.Field, p.Reason
	}
	_ = r.rejects.Write(append([]string{at, strings.Join(fields, "; "), strings.Join(reasons, "; ")}, orig...))
}

// lineOf names a line of the file being read: file:line when several
// files are imported.
func (r *run) lineOf(line int) string {
	if r.many {
		return r.file + ":" + strconv.Itoa(line)
	}
	return strconv.Itoa(line)
}

// noteNewTenants records, with no tenants file to check tenants against,
// those of evs no import sent events of before: a mistyped tenant is
// accepted, and the summary names it.
func (r *run) noteNewTenants(ctx context.Context, evs []events.Event) error {
	for i := range evs {
		t := evs[i].Tenant
		if r.tenants[t] || r.opts.Tenants != nil {
			continue
		}
		r.tenants[t] = true
		known, err := r.opts.Ledger.Known(ctx, t)
		if err != nil {
			return err
		}
		if !known {
			r.sum.NewTenants = append(r.sum.NewTenants, t)
		}
	}
	return nil
}
