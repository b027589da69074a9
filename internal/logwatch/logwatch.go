// Package logwatch keeps the consumption of a partition honest: it says
// where a claimed partition may resume, checks that fetched offsets follow
// on, reads the Kafka reader's own reports, and watches the log, giving
// the reason to halt whenever the log no longer holds what is next or
// Redis no longer holds what was applied. Halting is left to the pipeline.
package logwatch

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/cxpulse/cxpulse/internal/pace"
)

// Interval is how often a consumed partition's log offsets are compared
// with what is next to fetch.
const Interval = 5 * time.Second

// Partition is one consumed partition's log.
type Partition struct {
	Admin *kafka.Client
	Group string
	Topic string
	ID    int
	// Next is the next offset the partition's reader is to fetch.
	Next atomic.Int64
	// Every is how often Watch looks; default Interval.
	Every time.Duration
}

// Offsets returns the first offset the partition's log holds and its end
// (the next offset to be written).
func (l *Partition) Offsets(ctx context.Context) (first, end int64, err error) {
	topic, id := l.Topic, l.ID
	res, err := l.Admin.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{
		topic: {kafka.FirstOffsetOf(id), kafka.LastOffsetOf(id)}}})
	if err != nil {
		return 0, 0, fmt.Errorf("listing the offsets of %s/%d: %w", topic, id, err)
	}
	for _, part := range res.Topics[topic] {
		if part.Partition == id {
			if part.Error != nil {
				return 0, 0, fmt.Errorf("offsets of %s/%d: %w", topic, id, part.Error)
			}
			return part.FirstOffset, part.LastOffset, nil
		}
	}
	return 0, 0, fmt.Errorf("no offsets for %s/%d", topic, id)
}

// ResumeAt decides where a claimed partition resumes: from its recorded
// resume offset, or from the log start when nothing was applied from it.
// A recorded offset the log no longer holds gives the reason to halt.
func ResumeAt(found bool, resume, first, end int64) (int64, string) {
	switch {
	case !found:
		return first, ""
	case resume < first:
		return 0, fmt.Sprintf("offsets %d to %d were deleted by retention before they were applied (the log starts at %d): "+
			"not skipping them silently; docs/operations.md says how to go on", resume, first-1, first)
	case resume > end:
		return 0, fmt.Sprintf("the log ends at %d, below the %d already applied: the topic was deleted and recreated, or truncated, "+
			"and the new messages below %d would be skipped; docs/operations.md says how to go on", end, resume, resume)
	}
	return resume, ""
}

// ReaderReport returns the reason to halt that a kafka-go reader's error
// report calls for, "" for none: the reader skips, by itself, from an
// offset retention deleted to the log start, and waits, silently, at an
// offset past the end of a replaced log.
func ReaderReport(msg string, args []any) string {
	switch {
	case strings.HasPrefix(msg, "the kafka reader is reading before the first offset") && len(args) >= 4:
		return fmt.Sprintf("offsets %v up to %v were deleted by retention before they were applied; "+
			"docs/operations.md says how to go on", args[2], args[3])
	case strings.HasPrefix(msg, "the kafka reader is reading passed the last offset") && len(args) >= 3:
		return fmt.Sprintf("offset %v is past the end of the log: the topic was deleted and recreated, or truncated, "+
			"and the new messages below it would be skipped; docs/operations.md says how to go on", args[2])
	}
	return ""
}

// StateLost returns why a partition with no claim recorded in Redis may
// not start over from its log start: the group committed an offset to
// Kafka for it, which it does only after Redis recorded the partition's
// state, so Redis lost that state (restarted empty, flushed, or failed
// over to a replica behind). "" when the group committed nothing.
func (l *Partition) StateLost(ctx context.Context) (string, error) {
	topic, id := l.Topic, l.ID
	res, err := l.Admin.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: l.Group, Topics: map[string][]int{topic: {id}}})
	if err != nil {
		return "", fmt.Errorf("fetching the committed offset of %s/%d: %w", topic, id, err)
	}
	if res.Error != nil {
		return "", fmt.Errorf("fetching the committed offset of %s/%d: %w", topic, id, res.Error)
	}
	for _, part := range res.Topics[topic] {
		if part.Partition == id && part.Error == nil && part.CommittedOffset >= 0 {
			return fmt.Sprintf("Redis holds no state for this partition, but group %s committed offset %d to Kafka: "+
				"Redis lost its state (restarted empty, flushed, or failed over to a replica behind); not starting over "+
				"from the log start silently; docs/operations.md says how to rebuild", l.Group, part.CommittedOffset), nil
		}
	}
	return "", nil
}

// CheckFetched checks that fetched messages follow on from Next, and
// advances it; it returns the reason to halt, "" for none. An offset below next means the log was replaced; one above
// it is a gap, fine where compaction or transaction markers left it, but a
// halt where retention deleted messages not yet applied (the reader then
// skips to the log start by itself).
func (l *Partition) CheckFetched(ctx context.Context, msgs []kafka.Message) string {
	for i := range msgs {
		want, got := l.Next.Load(), msgs[i].Offset
		switch {
		case got < want:
			return fmt.Sprintf("the reader went back from offset %d to %d: the partition's log was replaced "+
				"(the topic deleted and recreated?), and what it holds now is not what was applied; docs/operations.md says how to go on", want, got)
		case got > want:
			first, _, err := l.Offsets(ctx)
			if err != nil {
				// Without the log start the gap cannot be told apart from
				// compaction: halting is the safe side.
				return fmt.Sprintf("offsets %d to %d were skipped and the log start could not be read: %v", want, got-1, err)
			}
			if first > want {
				return fmt.Sprintf("offsets %d to %d were deleted by retention before they were applied "+
					"(the log starts at %d); docs/operations.md says how to go on", want, first-1, first)
			}
		}
		l.Next.Store(got + 1)
	}
	return ""
}

// Watch compares, every Interval until ctx ends, the
// partition's log with the next offset to fetch, and halts the partition
// when the log no longer holds it: its end below it (the topic was
// recreated or truncated, and the reader would wait, silently, for the new
// log to pass the old offset), or its start above it at two checks in a
// row with nothing fetched between them (retention deleted it, and the
// reader is stuck or skipping; what the reader holds already is fetched
// within a check, and CheckFetched judges it).
//
// The next offset is read before the log is asked for its offsets: the
// reader only fetches what the log holds, so the log's end, read after,
// can be below it only if the log was replaced, however late the broker
// answers. A log end below it is checked again (Recheck later) before
// the partition halts.
func (l *Partition) Watch(ctx context.Context, log *zap.Logger, halt func(reason string)) {
	suspect := int64(-1) // the next offset at the last check, when the log started above it
	every := l.Every
	if every == 0 {
		every = Interval
	}
	pace.Every(ctx, every, func() bool {
		first, end, n, err := l.compare(ctx)
		if err != nil {
			if ctx.Err() == nil {
				log.Debug("watching the log", zap.Error(err))
			}
			return true
		}
		if end < n {
			if reason := l.recheckEnd(ctx, log); reason != "" {
				halt(reason)
				return false
			}
			return true
		}
		switch {
		case first > n && suspect == n:
			halt(fmt.Sprintf("offsets %d to %d were deleted by retention before they were applied "+
				"(the log starts at %d); docs/operations.md says how to go on", n, first-1, first))
			return false
		case first > n:
			suspect = n
		default:
			suspect = -1
		}
		return true
	})
}

// Recheck is how long Watch waits before it checks again a log whose end
// was below the next offset.
const Recheck = time.Second

// compare reads the next offset to fetch, then the log's offsets.
func (l *Partition) compare(ctx context.Context) (first, end, next int64, err error) {
	next = l.Next.Load()
	first, end, err = l.Offsets(ctx)
	return first, end, next, err
}

// recheckEnd returns the reason to halt when the log's end is still below
// the next offset at a second look, Recheck later; "" when it is not (or
// the second look could not be had: the next cycle looks again).
func (l *Partition) recheckEnd(ctx context.Context, log *zap.Logger) string {
	if !pace.Sleep(ctx, Recheck) {
		return ""
	}
	_, end, n, err := l.compare(ctx)
	if err != nil {
		if ctx.Err() == nil {
			log.Debug("watching the log", zap.Error(err))
		}
		return ""
	}
	if end >= n {
		log.Warn("the log's end was below the next offset at one look and not at the next", zap.Int64("end", end), zap.Int64("next", n))
		return ""
	}
	return fmt.Sprintf("the log ends at %d, below the next offset %d: the topic was deleted and recreated, "+
		"or truncated, and the new messages below %d would be skipped; docs/operations.md says how to go on", end, n, n)
}

// FirstTime returns the timestamp of the message at offset first, the
// oldest the log holds.
func (l *Partition) FirstTime(ctx context.Context, first int64) (time.Time, error) {
	res, err := l.Admin.Fetch(ctx, &kafka.FetchRequest{Topic: l.Topic, Partition: l.ID, Offset: first, MinBytes: 1, MaxBytes: 1 << 20, MaxWait: time.Second})
	if err != nil {
		return time.Time{}, fmt.Errorf("fetching offset %d of %s/%d: %w", first, l.Topic, l.ID, err)
	}
	if res.Error != nil {
		return time.Time{}, fmt.Errorf("fetching offset %d of %s/%d: %w", first, l.Topic, l.ID, res.Error)
	}
	for {
		rec, err := res.Records.ReadRecord()
		if err != nil {
			return time.Time{}, fmt.Errorf("reading offset %d of %s/%d: %w", first, l.Topic, l.ID, err)
		}
		if rec.Offset >= first {
			return rec.Time, nil
		}
	}
}

// RebuildGap returns why a partition cannot be rebuilt from its log, ""
// when it can: the log must reach back to oldest, the oldest instant the
// windows and calendar periods keep, or start at offset 0. firstTime is
// the timestamp of its first message; an event may be up to tolerance
// ahead of its message.
func RebuildGap(topic string, id int, first int64, firstTime, oldest time.Time, tolerance time.Duration) string {
	if first == 0 || !firstTime.Add(tolerance).After(oldest) {
		return ""
	}
	return fmt.Sprintf("Redis lost its state and CXPULSE_ON_STATE_LOSS=rebuild, but the log of %s/%d starts at offset %d, written %s, "+
		"after %s, the oldest instant the windows and calendar periods keep: a rebuild would miss what retention deleted; "+
		"halted (docs/operations.md)", topic, id, first, firstTime.UTC().Format(time.RFC3339), oldest.UTC().Format(time.RFC3339))
}
