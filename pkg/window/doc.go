// Package window holds the pure arithmetic of cxpulse's rolling windows:
// parsing window lengths, choosing each window's bucket size, aligning
// buckets to the Unix epoch and deciding which buckets a window holds at a
// given instant. It does no I/O; storing and summing buckets is left to
// callers.
package window
