package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cxpulse/cxpulse/internal/erasure"
	"github.com/cxpulse/cxpulse/internal/importer"
	"github.com/cxpulse/cxpulse/internal/kafkaconn"
	"github.com/cxpulse/cxpulse/internal/redisconn"
	"github.com/cxpulse/cxpulse/internal/store"
	"github.com/cxpulse/cxpulse/internal/tenants"
	"github.com/cxpulse/cxpulse/internal/timerule"
	"github.com/cxpulse/cxpulse/pkg/events"
	"github.com/cxpulse/cxpulse/pkg/window"
)

// shared are the service settings the commands read.
type shared struct {
	Kafka       kafkaconn.Config
	Redis       redisconn.Config
	TopicPrefix string
	TenantsFile string
	WindowsSpec string
	ErasureKey  string
}

func (s *shared) register(c *commandFlags) {
	s.Kafka.Register(c.set)
	s.Redis.Register(c.set, "")
	c.set.String(&s.TopicPrefix, "CXPULSE_TOPIC_PREFIX", "cx.", "prefix of every topic")
	c.set.String(&s.TenantsFile, "CXPULSE_TENANTS_FILE", "", "optional YAML file of tenant settings (currency, timezone, calendar)")
	c.set.String(&s.WindowsSpec, "CXPULSE_WINDOWS", window.DefaultSpec, "the aggregator's rolling windows (for its time rule)")
	c.set.Secret(&s.ErasureKey, "CXPULSE_ERASURE_KEY", "the aggregators' key of the hash naming erased customers (default: the key kept in Redis)")
}

// erased returns what is known of the erasures in Redis: events of erased
// customers are never sent again.
func (s *shared) erased(rdb redis.UniversalClient) (*erasure.Set, error) {
	ws, err := window.Parse(s.WindowsSpec)
	if err != nil {
		return nil, fmt.Errorf("CXPULSE_WINDOWS: %w", err)
	}
	return erasure.NewSet(store.New(rdb, ws, 0), rdb, s.ErasureKey), nil
}

// redis connects to Redis, for what needs it (named in the error).
func (s *shared) redis(ctx context.Context, what string) (redis.UniversalClient, error) {
	if err := s.Redis.Validate(); err != nil {
		return nil, err
	}
	rdb, err := s.Redis.Client()
	if err != nil {
		return nil, err
	}
	// A command is run by hand: a Redis it cannot reach is one clear
	// line now, not a retry later.
	err = rdb.Ping(ctx).Err()
	if err != nil {
		err = fmt.Errorf("cannot reach Redis at %s (CXPULSE_REDIS_URL): %w", s.Redis.Addrs(), err)
	} else {
		err = redisconn.Check(ctx, rdb)
	}
	if err != nil {
		return nil, errors.Join(fmt.Errorf("%s needs Redis: %w", what, err), rdb.Close())
	}
	return rdb, nil
}

// kafka checks the Kafka settings and that the brokers answer and take
// them (a refused login or an untrusted certificate named): a command is
// run by hand, so a broker it cannot reach is one clear line now.
func (s *shared) kafka(ctx context.Context) error {
	if err := s.Kafka.Validate(); err != nil {
		return err
	}
	if err := s.Kafka.Reachable(ctx, 10*time.Second); err != nil {
		return fmt.Errorf("cannot reach Kafka at %s (CXPULSE_KAFKA_BROKERS): %w", strings.Join(s.Kafka.Brokers, ","), err)
	}
	return nil
}

// rule returns the tenants and the aggregator's time rule.
func (s *shared) rule() (*tenants.Registry, *timerule.Rule, error) {
	reg, err := tenants.Load(s.TenantsFile)
	if err != nil {
		return nil, nil, fmt.Errorf("CXPULSE_TENANTS_FILE: %w", err)
	}
	ws, err := window.Parse(s.WindowsSpec)
	if err != nil {
		return nil, nil, fmt.Errorf("CXPULSE_WINDOWS: %w", err)
	}
	return reg, timerule.New(reg, ws[len(ws)-1]), nil
}

const importUsage = `import [flags] FILE...   (FILE "-" is stdin)

Imports CSV (a header row; RFC 4180) or NDJSON of the event contract. Each
row is checked as ingest and the aggregator would check it; a bad row goes to
--rejects with its line, field and reason and never stops the import. Rows
sent by an earlier import (the ledger in Redis) are skipped, so importing a
file again, at any time, changes no count. docs/import.md has ready mappings.`

func runImport(ctx context.Context, e *env, args []string) int {
	c := newFlags(e, "import", importUsage)
	var sh shared
	var tenant, typ, metric, format, timeFormat, zone, idFormat, rejects, brokers, ingestURL, key string
	var maps []string
	var ids idFlags
	c.str(&tenant, "tenant", "", "tenant of every row (NDJSON: every event must be of it)")
	c.str(&typ, "type", "", "event type of every row: "+typeNames()+" (or --map type=COLUMN)")
	c.str(&metric, "metric", "", "survey metric of every row: nps, csat or ces (or --map metric=COLUMN)")
	c.list(&maps, "map", "FIELD=COLUMN, repeated: id, occurred_at, customer_id, score, comment, ticket_id, category,\nfirst_response_seconds, handle_seconds, order_id, amount, currency, referral_code, customer_since, revision,\ntype, metric, dims.NAME, attrs.NAME")
	c.str(&format, "format", "", "csv or ndjson (default: from the file's extension)")
	c.str(&timeFormat, "time-format", importer.TimeRFC3339, "rfc3339, unix, unix_ms or a strftime pattern such as %Y-%m-%d %H:%M:%S")
	c.str(&zone, "timezone", "", "IANA zone of times without an offset (default: the tenant's)")
	c.str(&idFormat, "id-format", importer.IDInteger, "integer (ids written as 17850.0 become 17850) or keep")
	c.str(&ids.columns, "id-columns", "", "COLUMN,... that identify a row and stay the same in a correction: each row's id is built from them\n(for files with a revision column and no id column)")
	c.str(&ids.suffix, "id-suffix", "", "added to every id the file gives, e.g. :csat when one export is imported as several metrics")
	c.str(&rejects, "rejects", "", "CSV file for the rejected rows (line, field, reason, then the row)")
	c.str(&brokers, "kafka", "", "Kafka brokers to write to (default CXPULSE_KAFKA_BROKERS)")
	c.str(&ingestURL, "ingest", "", "write through the ingest service at this URL instead of Kafka")
	c.str(&key, "key", "", "ingest API key with scope write (or CXPULSE_INGEST_KEY, CXPULSE_INGEST_KEY_FILE)")
	var envKey string
	c.set.Secret(&envKey, "CXPULSE_INGEST_KEY", "ingest API key of --ingest")
	sh.register(c)
	files, code, ok := c.parse(e, args)
	if !ok {
		return code
	}
	fail := func(err error) int {
		fmt.Fprintf(e.stderr, "cxpulse import: %v\n", err)
		return exitFailed
	}
	if len(files) == 0 {
		return fail(errors.New("no FILE given (\"-\" reads stdin)"))
	}
	if brokers != "" {
		sh.Kafka.Brokers = strings.Split(brokers, ",")
	}
	if key == "" {
		key = envKey
	}
	opts, err := importOptions(&sh, tenant, typ, metric, format, timeFormat, zone, idFormat, maps, ids)
	if err != nil {
		return fail(err)
	}
	rdb, err := sh.redis(ctx, "the import ledger")
	if err != nil {
		return fail(err)
	}
	defer rdb.Close()
	opts.Ledger = importer.NewLedger(rdb)
	erased, err := sh.erased(rdb)
	if err != nil {
		return fail(err)
	}
	opts.Erased = erased.Covers
	if ingestURL != "" {
		if key == "" {
			return fail(errors.New("--ingest needs --key (or CXPULSE_INGEST_KEY)"))
		}
		opts.Sink = importer.NewIngestSink(ingestURL, key)
	} else {
		if err := sh.kafka(ctx); err != nil {
			return fail(err)
		}
		opts.Sink = importer.NewKafkaSink(sh.Kafka.Writer(), sh.TopicPrefix)
	}
	if rejects != "" {
		f, err := os.Create(rejects)
		if err != nil {
			return fail(fmt.Errorf("--rejects: %w", err))
		}
		defer f.Close()
		opts.Rejects = f
	}
	opts.Stdin, opts.Progress, opts.Terminal, opts.Now = e.stdin, e.stderr, e.terminal, e.now
	sum, err := importer.Import(ctx, opts, files)
	err = errors.Join(err, opts.Sink.Close())
	fmt.Fprintf(e.stdout, "read %d rows, sent %d, rejected %d, skipped %d as already imported, in %.1f s\n",
		sum.Read, sum.Sent, sum.Rejected, sum.Skipped, sum.Seconds)
	if sum.Erased > 0 {
		fmt.Fprintf(e.stdout, "%d rows of erased customers were skipped\n", sum.Erased)
	}
	printImportNotes(e, &opts, &sum)
	if sum.Rejected > 0 && rejects != "" {
		fmt.Fprintf(e.stdout, "the rejected rows and their reasons are in %s\n", rejects)
	}
	switch {
	case err != nil:
		return fail(err)
	case sum.Rejected > 0 || sum.Conflicts > 0:
		return exitPartial
	}
	return exitOK
}

// idFlags are the flags that make a file's ids.
type idFlags struct{ columns, suffix string }

// printImportNotes prints what the summary line leaves out: the zone and
// where it came from, ids changed, conflicts, tenants new to the ledger.
func printImportNotes(e *env, opts *importer.Options, sum *importer.Summary) {
	m := &opts.Mapping
	switch {
	case m.Zone != nil:
		fmt.Fprintf(e.stdout, "zone of times without an offset: %s (%s)\n", m.Zone, m.ZoneFrom)
	case m.Tenant != "":
		fmt.Fprintf(e.stdout, "every time carried its offset: no zone was needed (none is known: no --timezone, and no tenants file lists %s)\n", m.Tenant)
	}
	if sum.IDsFixed > 0 {
		fmt.Fprintf(e.stdout, "%d ids written as decimals (such as %s) were imported as integers (--id-format keep leaves them)\n", sum.IDsFixed, sum.IDsFixedExample)
	}
	if sum.Conflicts > 0 {
		fmt.Fprintf(e.stdout, "%d rows were not sent: an earlier import sent their id and revision for another event (first: %s); "+
			"one export imported as several metrics or types needs its own ids for each (--id-suffix), a correction a higher revision\n", sum.Conflicts, sum.ConflictExample)
	}
	for _, t := range sum.NewTenants {
		fmt.Fprintf(e.stdout, "tenant %q is new: no import sent events of it before (with no tenants file, any tenant name is taken: check its spelling)\n", t)
	}
}

// importOptions checks the mapping flags and builds the import's options.
func importOptions(sh *shared, tenant, typ, metric, format, timeFormat, zone, idFormat string, maps []string, ids idFlags) (importer.Options, error) {
	var opts importer.Options
	reg, rule, err := sh.rule()
	if err != nil {
		return opts, err
	}
	cols, err := importer.ParseMaps(maps)
	if err != nil {
		return opts, err
	}
	var errs []error
	if tenant != "" && !events.ValidTenant(tenant) {
		errs = append(errs, fmt.Errorf("--tenant %q: not a tenant name ([a-z0-9][a-z0-9_-]{0,63})", tenant))
	}
	if typ != "" && !events.Type(typ).Known() {
		errs = append(errs, fmt.Errorf("--type %q: not one of %s", typ, typeNames()))
	}
	if metric != "" {
		if _, _, ok := events.Metric(metric).Range(); !ok {
			errs = append(errs, fmt.Errorf("--metric %q: not nps, csat or ces", metric))
		}
	}
	if format != "" && format != importer.FormatCSV && format != importer.FormatNDJSON {
		errs = append(errs, fmt.Errorf("--format %q: want csv or ndjson", format))
	}
	if idFormat != importer.IDInteger && idFormat != importer.IDKeep {
		errs = append(errs, fmt.Errorf("--id-format %q: want integer or keep", idFormat))
	}
	// The zone of times without an offset: --timezone, else the tenant's
	// in the tenants file, else none (Import refuses such times).
	var loc *time.Location
	var from string
	switch t, listed := reg.Get(tenant); {
	case zone != "":
		from = "--timezone"
		if loc, err = time.LoadLocation(zone); err != nil {
			errs = append(errs, fmt.Errorf("--timezone %q: %w", zone, err))
		}
	case reg != nil && listed && tenant != "":
		loc, from = t.Periods.Loc, "the tenants file's timezone of "+tenant
	}
	var idCols []string
	if ids.columns != "" {
		for _, c := range strings.Split(ids.columns, ",") {
			if c = strings.TrimSpace(c); c == "" {
				errs = append(errs, fmt.Errorf("--id-columns %q: an empty column name", ids.columns))
				break
			}
			idCols = append(idCols, c)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return opts, err
	}
	opts.Mapping = importer.Mapping{Tenant: tenant, Type: events.Type(typ), Metric: events.Metric(metric), Columns: cols,
		TimeFormat: timeFormat, Zone: loc, ZoneFrom: from, IDFormat: idFormat, IDColumns: idCols, IDSuffix: ids.suffix}
	opts.Format, opts.Tenants, opts.Rule = format, reg, rule
	return opts, nil
}

func typeNames() string {
	names := make([]string, len(events.Types))
	for i, t := range events.Types {
		names[i] = string(t)
	}
	return strings.Join(names, ", ")
}
