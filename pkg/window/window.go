package window

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// DefaultSpec is the windows cxpulse keeps unless told otherwise.
const DefaultSpec = "1h,24h,7d,30d,90d"

// MinLength is the shortest window: 24 buckets of the smallest size.
const MinLength = 24 * time.Minute

// FutureTolerance is how far ahead of now an event may be and still count;
// buckets that start up to this far ahead belong to every window.
const FutureTolerance = 5 * time.Minute

// bucketSizes are the allowed bucket sizes, smallest first.
var bucketSizes = []time.Duration{time.Minute, 2 * time.Minute, time.Hour, 6 * time.Hour, Day, 3 * Day}

// BucketSize returns the bucket size of a window of length w: the largest
// of 1m, 2m, 1h, 6h, 1d, 3d that is at most w/24.
func BucketSize(w time.Duration) (time.Duration, error) {
	if w < MinLength {
		return 0, fmt.Errorf("%s is shorter than the minimum %s", FormatDuration(w), FormatDuration(MinLength))
	}
	size := bucketSizes[0]
	for _, b := range bucketSizes {
		if b*24 <= w {
			size = b
		}
	}
	return size, nil
}

// Window is a rolling window ending now, summed from epoch-aligned buckets.
type Window struct {
	// Name is how the window is written in stat names ("7d").
	Name string
	// Length is the window's span.
	Length time.Duration
	// Bucket is the size of its buckets.
	Bucket time.Duration
}

// New returns the window of the given length.
func New(length time.Duration) (Window, error) {
	b, err := BucketSize(length)
	if err != nil {
		return Window{}, err
	}
	return Window{Name: FormatDuration(length), Length: length, Bucket: b}, nil
}

// Parse reads a comma-separated list of window lengths ("1h,24h,7d") and
// returns the windows shortest first. Duplicates and windows shorter than
// MinLength are errors.
func Parse(spec string) ([]Window, error) {
	var out []Window
	for part := range strings.SplitSeq(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		d, err := ParseDuration(part)
		if err != nil {
			return nil, err
		}
		w, err := New(d)
		if err != nil {
			return nil, fmt.Errorf("window %q: %w", part, err)
		}
		if slices.ContainsFunc(out, func(o Window) bool { return o.Length == w.Length }) {
			return nil, fmt.Errorf("window %q is listed twice", part)
		}
		out = append(out, w)
	}
	if len(out) == 0 {
		return nil, errors.New("at least one window is needed")
	}
	slices.SortFunc(out, func(a, b Window) int { return int(a.Length - b.Length) })
	return out, nil
}

// Index returns the number of the bucket holding t: buckets are numbered
// from the Unix epoch, bucket i covering [i·Bucket, (i+1)·Bucket).
func (w Window) Index(t time.Time) int64 {
	return floorDiv(t.UnixMilli(), w.Bucket.Milliseconds())
}

// Start returns the start of bucket i.
func (w Window) Start(i int64) time.Time {
	return time.UnixMilli(i * w.Bucket.Milliseconds()).UTC()
}

// Span returns the bucket numbers the window holds at now, first and last
// included: every bucket whose start is after now − Length and at most
// FutureTolerance ahead of now.
func (w Window) Span(now time.Time) (first, last int64) {
	b := w.Bucket.Milliseconds()
	// The first bucket starts strictly after now − Length.
	first = floorDiv(now.Add(-w.Length).UnixMilli(), b) + 1
	last = floorDiv(now.Add(FutureTolerance).UnixMilli(), b)
	return first, last
}

// Begins returns the start of the window's first bucket at now: what
// began before it lies wholly outside the window (an activity spell begun
// earlier runs through the whole window).
func (w Window) Begins(now time.Time) time.Time {
	first, _ := w.Span(now)
	return w.Start(first)
}

// Holds reports whether bucket i is in the window at now.
func (w Window) Holds(i int64, now time.Time) bool {
	first, last := w.Span(now)
	return i >= first && i <= last
}

// Leaves returns the instant bucket i drops out of the window: the first
// now at which its start is no longer after now − Length.
func (w Window) Leaves(i int64) time.Time {
	return w.Start(i).Add(w.Length)
}

// TooLate reports whether an event at t is in no window at now, judged by
// the largest window (its bucket starts at or before now − Length).
func (w Window) TooLate(t, now time.Time) bool {
	first, _ := w.Span(now)
	return w.Index(t) < first
}

// InFuture reports whether an event at t is more than FutureTolerance
// ahead of now.
func InFuture(t, now time.Time) bool { return t.Sub(now) > FutureTolerance }

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}
