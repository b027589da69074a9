package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// SlowListOffsets makes the broker answer every offset query (ListOffsets)
// delay late: the offsets are read when the query arrives and answered
// after the delay, as a loaded broker or a slow network does, while
// everything else is served meanwhile. Queries for read_committed offsets
// are the helper's own and pass straight through.
func SlowListOffsets(t testing.TB, c *kfake.Cluster, addr string, delay time.Duration) {
	t.Helper()
	inner, err := kgo.NewClient(kgo.SeedBrokers(addr))
	require.NoError(t, err)
	t.Cleanup(inner.Close)
	c.ControlKey(int16(kmsg.ListOffsets), func(r kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		req := r.(*kmsg.ListOffsetsRequest)
		if req.IsolationLevel == 1 {
			return nil, nil, false
		}
		own := *req
		own.IsolationLevel = 1 // without transactions, the same offsets
		var (
			resp kmsg.Response
			rerr error
		)
		done := make(chan struct{})
		go func() {
			defer close(done)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			resp, rerr = inner.Request(ctx, &own)
		}()
		c.SleepControl(func() {
			<-done
			time.Sleep(delay)
		})
		if rerr != nil {
			return nil, rerr, true
		}
		resp.SetVersion(req.GetVersion())
		return resp, nil, true
	})
}
