package testenv

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

type listOffsets struct{ topic string }

// run sums the high watermarks of every partition of the topic.
func (l *listOffsets) run(ctx context.Context, t testing.TB, cl *kgo.Client) int64 {
	t.Helper()
	meta := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr(l.topic)
	meta.Topics = append(meta.Topics, mt)
	mresp, err := meta.RequestWith(ctx, cl)
	require.NoError(t, err)
	require.Len(t, mresp.Topics, 1)
	req := kmsg.NewPtrListOffsetsRequest()
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = l.topic
	for _, p := range mresp.Topics[0].Partitions {
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition = p.Partition
		rp.Timestamp = -1
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	require.NoError(t, err)
	var total int64
	for _, tp := range resp.Topics {
		for _, p := range tp.Partitions {
			require.NoError(t, kerrErr(p.ErrorCode))
			total += p.Offset
		}
	}
	return total
}

func kerrErr(code int16) error { return kerr.ErrorForCode(code) }
