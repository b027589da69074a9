package testenv

import (
	"context"
	"crypto/tls"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

// RedisACL is the least an ACL user of cxpulse needs, as docs/security.md
// gives it: its own keys, and reads, writes, scripts, transactions and
// the server time, nothing dangerous.
var RedisACL = []string{"resetkeys", "~cxpulse:*", "resetchannels", "-@all", "+@read", "+@write", "+@scripting",
	"+@transaction", "+@connection", "+time", "+cluster|slots", "+cluster|shards", "-@dangerous"}

// RedisTLS starts a throwaway redis-server that speaks only TLS (the
// PKI's server certificate), with the default user off, the ACL user cx
// (password s3cret, RedisACL) and the user narrow (password s3cret, reads
// only), and returns its address. With clientAuth it also asks for a
// client certificate.
func RedisTLS(t testing.TB, pki *PKI, clientAuth bool, extra ...string) string {
	t.Helper()
	bin := Tool(t, "redis-server")
	port := FreePort(t)
	dir := t.TempDir()
	args := append(append(redisTLSArgs(pki, port, dir, clientAuth), "--user", "default", "off"), extra...)
	cmd := exec.Command(bin, args...)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := "127.0.0.1:" + strconv.Itoa(port)
	tlsc := &tls.Config{RootCAs: pki.pool, MinVersion: tls.VersionTLS12}
	if clientAuth {
		cert, err := tls.LoadX509KeyPair(pki.ClientCert, pki.ClientKey)
		require.NoError(t, err)
		tlsc.Certificates = []tls.Certificate{cert}
	}
	c := redis.NewClient(&redis.Options{Addr: addr, Username: "cx", Password: "s3cret", TLSConfig: tlsc, MaxRetries: -1})
	defer c.Close()
	require.Eventually(t, func() bool { return c.Ping(context.Background()).Err() == nil }, 10*time.Second, 20*time.Millisecond,
		"redis-server with TLS did not start (log in %s)", dir)
	return addr
}

// redisTLSArgs are the arguments of a redis-server that speaks only TLS on
// port, with the users cx and narrow of RedisTLS.
func redisTLSArgs(pki *PKI, port int, dir string, clientAuth bool) []string {
	auth := "no"
	if clientAuth {
		auth = "yes"
	}
	args := []string{"--port", "0", "--tls-port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--tls-cert-file", pki.ServerCert, "--tls-key-file", pki.ServerKey, "--tls-ca-cert-file", pki.CAFile,
		"--tls-auth-clients", auth, "--save", "", "--appendonly", "no", "--dir", dir, "--logfile", "redis.log"}
	args = append(append(args, "--user", "cx", "on", ">s3cret"), RedisACL...)
	return append(args, "--user", "narrow", "on", ">s3cret", "~cxpulse:*", "-@all", "+@read", "+@connection")
}

// RedisClusterTLS starts a throwaway Redis Cluster of n primaries that
// speaks only TLS, its bus included, with the users of RedisTLS (client
// certificates not asked for), and returns its nodes as a rediss:// URL
// for the user cx.
func RedisClusterTLS(t testing.TB, pki *PKI, n int) string {
	t.Helper()
	bin := Tool(t, "redis-server")
	var addrs []string
	var ports, buses []int
	var dirs []string
	for range n {
		port, bus, dir := FreePort(t), FreePort(t), t.TempDir()
		args := append(redisTLSArgs(pki, port, dir, false), "--user", "default", "on", ">admin", "~*", "&*", "+@all",
			"--cluster-enabled", "yes", "--cluster-node-timeout", "5000", "--cluster-port", strconv.Itoa(bus),
			"--tls-cluster", "yes", "--tls-replication", "yes",
			// The cluster bus always asks its peers for a certificate.
			"--tls-client-cert-file", pki.ClientCert, "--tls-client-key-file", pki.ClientKey)
		cmd := exec.Command(bin, args...)
		require.NoError(t, cmd.Start())
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		addrs = append(addrs, "127.0.0.1:"+strconv.Itoa(port))
		ports, buses = append(ports, port), append(buses, bus)
		dirs = append(dirs, dir)
	}
	tlsc := &tls.Config{RootCAs: pki.pool, MinVersion: tls.VersionTLS12}
	ctx := context.Background()
	// The slots are shared out and the nodes introduced by hand: redis-cli
	// --cluster create assumes the bus is at port + 10000.
	for i, a := range addrs {
		c := redis.NewClient(&redis.Options{Addr: a, Password: "admin", TLSConfig: tlsc, MaxRetries: -1})
		require.Eventually(t, func() bool { return c.Ping(ctx).Err() == nil }, 10*time.Second, 20*time.Millisecond,
			"redis-server %s with TLS did not start", a)
		lo, hi := i*16384/n, (i+1)*16384/n-1
		require.NoError(t, c.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", lo, hi).Err(), "slots of %s", a)
		if i > 0 {
			first := redis.NewClient(&redis.Options{Addr: addrs[0], Password: "admin", TLSConfig: tlsc})
			require.NoError(t, first.Do(ctx, "CLUSTER", "MEET", "127.0.0.1", ports[i], buses[i]).Err(), "meeting %s", a)
			_ = first.Close()
		}
		_ = c.Close()
	}
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, Username: "cx", Password: "s3cret", TLSConfig: tlsc})
	defer c.Close()
	require.Eventually(t, func() bool {
		for _, a := range addrs {
			nc := redis.NewClient(&redis.Options{Addr: a, Password: "admin", TLSConfig: tlsc})
			info, err := nc.ClusterInfo(context.Background()).Result()
			_ = nc.Close()
			if err != nil || !strings.Contains(info, "cluster_state:ok") {
				return false
			}
		}
		return c.Ping(context.Background()).Err() == nil
	}, 30*time.Second, 100*time.Millisecond, "cluster did not become ready: %s", func() string {
		nc := redis.NewClient(&redis.Options{Addr: addrs[0], Password: "admin", TLSConfig: tlsc})
		defer nc.Close()
		nodes, err := nc.ClusterNodes(ctx).Result()
		if err != nil {
			return err.Error()
		}
		b, _ := os.ReadFile(filepath.Join(dirs[0], "redis.log"))
		return nodes + "log of the first node:\n" + string(b)
	}())
	url := "rediss://cx@" + addrs[0]
	for i, a := range addrs[1:] {
		url += map[bool]string{true: "?", false: "&"}[i == 0] + "addr=" + a
	}
	return url
}
