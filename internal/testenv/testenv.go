// Package testenv starts the real parts cxpulse tests run against: an
// in-process Kafka-protocol broker (kfake) listening on loopback TCP, a
// throwaway redis-server on a free port, and third-party tools such as
// kcat. Each start is torn down by t.Cleanup; what to do with them is left
// to the tests.
package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/cxpulse/cxpulse/internal/redisproc"
)

// Kafka starts a single-broker kfake cluster on a free loopback port with
// the given topics, each with partitions partitions, and returns it with
// its address.
func Kafka(t testing.TB, partitions int32, topics ...string) (*kfake.Cluster, string) {
	t.Helper()
	opts := []kfake.Opt{kfake.NumBrokers(1)}
	if len(topics) > 0 {
		opts = append(opts, kfake.SeedTopics(partitions, topics...))
	}
	c, err := kfake.NewCluster(opts...)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c, c.ListenAddrs()[0]
}

// Consume reads n records from topic (all partitions, from the start) and
// fails the test if they do not arrive within a generous deadline.
func Consume(t testing.TB, addr, topic string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	require.NoError(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		require.NoError(t, ctx.Err(), "waiting for %d records on %s, got %d", n, topic, len(out))
		fs.EachError(func(_ string, _ int32, err error) { require.NoError(t, err) })
		out = append(out, fs.Records()...)
	}
	return out
}

// Count returns how many records topic holds, summed over partitions.
func Count(t testing.TB, addr, topic string) int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	require.NoError(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := &listOffsets{topic: topic}
	return req.run(ctx, t, cl)
}

// FreePort returns a TCP port on loopback that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Tool returns the path of an installed program. Outside CI a missing
// program skips the test; in CI (CI set) it fails it, since .ci/run
// installs every tool the tests need.
func Tool(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not installed; .ci/run must install it", name)
		}
		t.Skipf("%s is not installed (apt-get install %s)", name, name)
	}
	return path
}

// Redis starts a throwaway redis-server on a free port, keeping nothing on
// disk, and returns a client to it and its address. The server is killed
// at cleanup.
func Redis(t testing.TB) (*redis.Client, string) {
	t.Helper()
	srv := RedisProcess(t)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = c.Close() })
	return c, srv.Addr
}

// RedisProcess starts a throwaway redis-server and returns the process, for
// tests that stop and resume it.
func RedisProcess(t testing.TB) *redisproc.Server {
	t.Helper()
	srv, err := redisproc.Start(Tool(t, "redis-server"), t.TempDir())
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Stop() })
	return srv
}

// RedisCluster starts a local Redis Cluster of n masters (redis-server
// processes on free ports, no replicas) and returns the URL
// CXPULSE_REDIS_URL takes in cluster mode: redis://h:p1?addr=h:p2&addr=h:p3.
func RedisCluster(t testing.TB, n int) string {
	t.Helper()
	bin := Tool(t, "redis-server")
	cli := Tool(t, "redis-cli")
	var addrs []string
	for range n {
		srv, err := redisproc.Start(bin, t.TempDir(), "--cluster-enabled", "yes", "--cluster-node-timeout", "5000")
		require.NoError(t, err)
		t.Cleanup(func() { _ = srv.Stop() })
		addrs = append(addrs, srv.Addr)
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	out, err := exec.Command(cli, args...).CombinedOutput()
	require.NoError(t, err, "redis-cli --cluster create: %s", out)
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	defer c.Close()
	require.Eventually(t, func() bool {
		for _, a := range addrs {
			nc := redis.NewClient(&redis.Options{Addr: a})
			info, err := nc.ClusterInfo(context.Background()).Result()
			_ = nc.Close()
			if err != nil || !strings.Contains(info, "cluster_state:ok") {
				return false
			}
		}
		return c.Ping(context.Background()).Err() == nil
	}, 30*time.Second, 100*time.Millisecond, "cluster did not become ready")
	url := "redis://" + addrs[0]
	for i, a := range addrs[1:] {
		sep := "&"
		if i == 0 {
			sep = "?"
		}
		url += sep + "addr=" + a
	}
	return url
}

// DeleteRecords deletes the records of topic's partition below offset, as
// retention would.
func DeleteRecords(t testing.TB, addr, topic string, partition int32, offset int64) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	require.NoError(t, err)
	defer cl.Close()
	req := kmsg.NewPtrDeleteRecordsRequest()
	rt := kmsg.NewDeleteRecordsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewDeleteRecordsRequestTopicPartition()
	rp.Partition, rp.Offset = partition, offset
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 5000
	resp, err := req.RequestWith(context.Background(), cl)
	require.NoError(t, err)
	require.Zero(t, resp.Topics[0].Partitions[0].ErrorCode, "deleting records of %s/%d", topic, partition)
}

// RecreateTopic deletes topic and creates it again, empty, with the given
// partitions.
func RecreateTopic(t testing.TB, addr, topic string, partitions int32) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	require.NoError(t, err)
	defer cl.Close()
	del := kmsg.NewPtrDeleteTopicsRequest()
	del.TopicNames = []string{topic}
	dt := kmsg.NewDeleteTopicsRequestTopic()
	dt.Topic = &topic
	del.Topics = append(del.Topics, dt)
	del.TimeoutMillis = 5000
	dresp, err := del.RequestWith(context.Background(), cl)
	require.NoError(t, err)
	require.Zero(t, dresp.Topics[0].ErrorCode, "deleting %s", topic)
	create := kmsg.NewPtrCreateTopicsRequest()
	ct := kmsg.NewCreateTopicsRequestTopic()
	ct.Topic, ct.NumPartitions, ct.ReplicationFactor = topic, partitions, 1
	create.Topics = append(create.Topics, ct)
	create.TimeoutMillis = 5000
	cresp, err := create.RequestWith(context.Background(), cl)
	require.NoError(t, err)
	require.Zero(t, cresp.Topics[0].ErrorCode, "creating %s", topic)
}

// Sentinels starts a primary redis-server, a replica of it and two
// redis-sentinel processes watching it as master, and returns the URL
// CXPULSE_REDIS_URL takes with CXPULSE_REDIS_SENTINEL_MASTER=master (the
// sentinels' addresses) and a function forcing a failover.
func Sentinels(t testing.TB, master string) (url string, failover func()) {
	t.Helper()
	bin, sentinel := Tool(t, "redis-server"), Tool(t, "redis-sentinel")
	// Replicas sync at once (Redis 7 waits 5 s for more by default).
	primary, err := redisproc.Start(bin, t.TempDir(), "--repl-diskless-sync-delay", "0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = primary.Stop() })
	replica, err := redisproc.Start(bin, t.TempDir(), "--repl-diskless-sync-delay", "0", "--replicaof", "127.0.0.1", strings.TrimPrefix(primary.Addr, "127.0.0.1:"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = replica.Stop() })
	var addrs []string
	for range 2 {
		port := FreePort(t)
		dir := t.TempDir()
		conf := filepath.Join(dir, "sentinel.conf")
		require.NoError(t, os.WriteFile(conf, []byte(fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nsentinel monitor %s 127.0.0.1 %s 1\n"+
			"sentinel down-after-milliseconds %s 1000\nsentinel failover-timeout %s 5000\n",
			port, dir, master, strings.TrimPrefix(primary.Addr, "127.0.0.1:"), master, master)), 0o600))
		cmd := exec.Command(sentinel, conf)
		require.NoError(t, cmd.Start())
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		addrs = append(addrs, fmt.Sprintf("127.0.0.1:%d", port))
	}
	// Ready once both sentinels know the replica, in sync with its primary.
	for _, a := range addrs {
		sc := redis.NewSentinelClient(&redis.Options{Addr: a})
		t.Cleanup(func() { _ = sc.Close() })
		require.Eventually(t, func() bool {
			r, err := sc.Replicas(context.Background(), master).Result()
			return err == nil && len(r) > 0 && r[0]["master-link-status"] == "ok"
		}, 20*time.Second, 50*time.Millisecond, "the sentinels did not find the replica in sync")
	}
	sc := redis.NewSentinelClient(&redis.Options{Addr: addrs[0]})
	t.Cleanup(func() { _ = sc.Close() })
	return "redis://" + addrs[0] + "?addr=" + addrs[1], func() {
		require.NoError(t, sc.Failover(context.Background(), master).Err())
	}
}
