package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cxpulse/cxpulse/internal/replay"
	"github.com/cxpulse/cxpulse/pkg/window"
)

const deadletterUsage = `deadletter list|replay [flags]

list:   what cx.deadletter holds, grouped by reason, with counts, tenants and
        examples.
replay: re-produces the original bytes of the selected dead letters to their
        source topics (header cxpulse-replay-of = the dead letter's source),
        so that after a fix (tenant added, currency corrected) they count.
        A replay run twice, or stopped and run again, sends nothing twice;
        events still invalid go back to cx.deadletter with their reason and
        are not replayed again unless --again.`

func runDeadletter(ctx context.Context, e *env, args []string) int {
	if len(args) == 0 || (args[0] != "list" && args[0] != "replay" && !strings.HasPrefix(args[0], "-")) {
		fmt.Fprintf(e.stderr, "Usage: cxpulse %s\n", deadletterUsage)
		return exitFailed
	}
	sub := ""
	if !strings.HasPrefix(args[0], "-") {
		sub, args = args[0], args[1:]
	}
	c := newFlags(e, "deadletter", deadletterUsage)
	var sh shared
	var reason, tenant, since string
	var asJSON, dryRun, again bool
	c.str(&reason, "reason", "", "only letters of this reason (too_late, unknown_tenant, currency_mismatch, …)")
	c.str(&tenant, "tenant", "", "only letters of this tenant")
	c.str(&since, "since", "", "only letters written at or after this RFC 3339 time or this long ago (24h, 7d)")
	c.boolean(&asJSON, "json", "list: print JSON")
	c.boolean(&dryRun, "dry-run", "replay: say what would be replayed, send nothing")
	c.boolean(&again, "again", "replay: also letters of events a replay sent before")
	sh.register(c)
	rest, code, ok := c.parse(e, args)
	if !ok {
		return code
	}
	fail := func(err error) int {
		fmt.Fprintf(e.stderr, "cxpulse deadletter %s: %v\n", sub, err)
		return exitFailed
	}
	if sub == "" || len(rest) > 0 {
		return fail(fmt.Errorf("want list or replay, then flags (got %q)", append([]string{sub}, rest...)))
	}
	f := replay.Filter{Reason: reason, Tenant: tenant}
	if since != "" {
		t, err := parseSince(since, time.Now())
		if err != nil {
			return fail(err)
		}
		f.Since = t
	}
	if err := sh.kafka(ctx); err != nil {
		return fail(err)
	}
	letters, err := replay.Read(ctx, &sh.Kafka, sh.TopicPrefix+"deadletter", f)
	if err != nil {
		return fail(err)
	}
	if sub == "list" {
		return listLetters(e, letters, asJSON)
	}
	rdb, err := sh.redis(ctx, "the replay ledger")
	if err != nil {
		return fail(err)
	}
	defer rdb.Close()
	erased, err := sh.erased(rdb)
	if err != nil {
		return fail(err)
	}
	w := sh.Kafka.Writer()
	res, err := replay.Replay(ctx, letters, w, rdb, replay.Options{DryRun: dryRun, Again: again, Erased: erased.Covers})
	err = errors.Join(err, w.Close())
	verb := "replayed"
	if dryRun {
		verb = "would replay"
	}
	fmt.Fprintf(e.stdout, "%s %d of %d dead letters; %d replayed before, %d from a replay (--again replays them), %d truncated, %d without a source\n",
		verb, res.Replayed, len(letters), res.AlreadyReplayed, res.FromReplay, res.Truncated, res.NoSource)
	if res.Erased > 0 {
		fmt.Fprintf(e.stdout, "%d dead letters of erased customers were kept back\n", res.Erased)
	}
	switch {
	case err != nil:
		return fail(err)
	case res.Truncated+res.NoSource > 0:
		return exitPartial
	}
	return exitOK
}

func listLetters(e *env, letters []replay.Letter, asJSON bool) int {
	groups := replay.Groups(letters)
	if asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(map[string]any{"total": len(letters), "reasons": groups}); err != nil {
			fmt.Fprintf(e.stderr, "cxpulse deadletter list: %v\n", err)
			return exitFailed
		}
		return exitOK
	}
	fmt.Fprintf(e.stdout, "%d dead letters\n", len(letters))
	for _, g := range groups {
		fmt.Fprintf(e.stdout, "\n%s: %d (tenants %s)\n", g.Reason, g.Count, strings.Join(g.Tenants, ", "))
		for _, l := range g.Examples {
			fmt.Fprintf(e.stdout, "  %s  %s  %s\n", l.Time.Format(time.RFC3339), l.Source, l.Detail)
		}
	}
	return exitOK
}

// parseSince reads an RFC 3339 time or a duration back from now.
func parseSince(v string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	d, err := window.ParseDuration(v)
	if err != nil {
		return time.Time{}, fmt.Errorf("--since %q: not an RFC 3339 time nor a duration such as 24h or 7d", v)
	}
	return now.Add(-d), nil
}
