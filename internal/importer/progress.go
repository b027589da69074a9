package importer

import (
	"fmt"
	"time"
)

// Progress intervals: redrawn in place on a terminal, a plain line
// otherwise.
const (
	terminalEvery = 250 * time.Millisecond
	plainEvery    = 5 * time.Second
)

// showProgress reports progress until the returned function is called.
func (r *run) showProgress(began time.Time) (stop func()) {
	w := r.opts.Progress
	if w == nil {
		return func() {}
	}
	every := plainEvery
	if r.opts.Terminal {
		every = terminalEvery
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				if r.opts.Terminal {
					fmt.Fprintf(w, "\r%s\n", r.progressLine(began))
				}
				return
			case <-t.C:
				if r.opts.Terminal {
					fmt.Fprintf(w, "\r%s\033[K", r.progressLine(began))
				} else {
					fmt.Fprintln(w, r.progressLine(began))
				}
			}
		}
	}()
	return func() { close(done); <-finished }
}

// progressLine says rows read, rate, rejects and, when the input size is
// known, a bar and the time left.
func (r *run) progressLine(began time.Time) string {
	elapsed := time.Since(began).Seconds()
	rows := r.read.Load()
	rate := 0.0
	if elapsed > 0 {
		rate = float64(rows) / elapsed
	}
	line := fmt.Sprintf("%d rows  %.0f rows/s  %d rejected", rows, rate, r.rejected.Load())
	if r.total <= 0 {
		return line
	}
	done := float64(r.bytes.Load()) / float64(r.total)
	done = min(max(done, 0), 1)
	const width = 24
	bar := make([]byte, width)
	for i := range bar {
		bar[i] = ' '
		if float64(i) < done*width {
			bar[i] = '#'
		}
	}
	eta := "?"
	if done > 0 {
		eta = (time.Duration(elapsed*(1-done)/done) * time.Second).Round(time.Second).String()
	}
	return fmt.Sprintf("[%s] %3.0f%%  %s  ETA %s", bar, done*100, line, eta)
}
