// Package outbox is the publisher's side of Redis: the lease that elects
// one publisher per group, with an epoch that grows with every holder;
// fenced by that epoch, the alert states and the queues of notifications
// waiting for each sink; the outboxes of dead letters the apply script
// fills; and the problems of tenants skipped. A publisher removes from a
// list only the head it read. What is published is left to package
// publish.
package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cxpulse/cxpulse/internal/store"
	"github.com/cxpulse/cxpulse/internal/store/keys"
)

// Outbox reads and writes the publisher's keys.
type Outbox struct {
	rdb redis.UniversalClient
}

// New returns an Outbox over rdb.
func New(rdb redis.UniversalClient) *Outbox { return &Outbox{rdb: rdb} }

// The publisher's protocol: one instance of a group holds the lease at a
// time, with an epoch that grows with every new holder; its writes of
// alert states are fenced by that epoch, and it removes from an outbox or
// a sink queue only the entries it published.

func leaseKey(group string) string       { return "cxpulse:{publisher:" + group + "}" }
func leaseEpochKey(group string) string  { return "cxpulse:{publisher:" + group + "}:epoch" }
func alertsKey(tenant string) string     { return keys.Alerts(tenant) }
func alertFenceKey(tenant string) string { return "cxpulse:{" + tenant + "}:alerts:fence" }

// SinkQueueKey holds, for one tenant and alert sink, the notifications
// waiting for the sink to take them.
func SinkQueueKey(tenant, sink string) string { return "cxpulse:{" + tenant + "}:sinkq:" + sink }

// Sinks names the queue of every alert sink fed from a queue (each sink's
// Name; cx.alerts is written directly).
var Sinks = []string{"alertmanager", "webhook", "pagerduty"}

// SinkQueues returns the notifications (JSON) waiting in each sink queue of
// a tenant, by key; queues without any are left out.
func (s *Outbox) SinkQueues(ctx context.Context, tenant string) (map[string][]string, error) {
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.StringSliceCmd, len(Sinks))
	for i, sink := range Sinks {
		cmds[i] = pipe.LRange(ctx, SinkQueueKey(tenant, sink), 0, -1)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("reading the sink queues of %s: %w", tenant, err)
	}
	out := map[string][]string{}
	for i, sink := range Sinks {
		if v := cmds[i].Val(); len(v) > 0 {
			out[SinkQueueKey(tenant, sink)] = v
		}
	}
	return out, nil
}

// SinkQueueCap bounds the notifications waiting for one sink per tenant;
// beyond it the oldest are dropped (a later notification of the same alert
// carries its current state), and counted.
const SinkQueueCap = 10000

// ErrFenced means a newer publisher wrote: this one must stop.
var ErrFenced = errors.New("a newer publisher holds the lease")

// ErrErased means customers of the tenant were erased while its alerts
// were evaluated: their annotations may quote them, so nothing was saved;
// evaluate again.
var ErrErased = errors.New("customers were erased while the alerts were evaluated")

var leaseScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur then
  local id, ep = string.match(cur, '^(.*):(%d+)$')
  if id == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return tonumber(ep)
  end
  return 0
end
local ep = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. ep, 'PX', ARGV[2])
return ep`)

// TakeLease takes or renews the publisher lease of group for instance and
// returns its epoch, or 0 when another instance holds it.
func (s *Outbox) TakeLease(ctx context.Context, group, instance string, ttl time.Duration) (int64, error) {
	ep, err := leaseScript.Run(ctx, s.rdb, []string{leaseKey(group), leaseEpochKey(group)}, instance, ttl.Milliseconds()).Int64()
	if err != nil {
		return 0, fmt.Errorf("taking the publisher lease: %w", err)
	}
	return ep, nil
}

// Head names the entries read from the head of a list, so that exactly
// those are removed once published.
type Head struct {
	N           int
	First, Last string
}

// trimHead removes the n entries of a list's head if they are still the
// ones read (another publisher may have removed them, and new ones come
// after): 1 when removed, 0 when left alone.
var trimHead = redis.NewScript(`
local n = tonumber(ARGV[1])
if redis.call('LINDEX', KEYS[1], 0) == ARGV[2] and redis.call('LINDEX', KEYS[1], n - 1) == ARGV[3] then
  redis.call('LTRIM', KEYS[1], n, -1)
  return 1
end
return 0`)

func (s *Outbox) head(ctx context.Context, key string, n int) ([]string, Head, error) {
	raw, err := s.rdb.LRange(ctx, key, 0, int64(n-1)).Result()
	if err != nil || len(raw) == 0 {
		return nil, Head{}, err
	}
	return raw, Head{N: len(raw), First: raw[0], Last: raw[len(raw)-1]}, nil
}

func (s *Outbox) trim(ctx context.Context, key string, h Head) error {
	if h.N == 0 {
		return nil
	}
	return trimHead.Run(ctx, s.rdb, []string{key}, h.N, h.First, h.Last).Err()
}

// Letters returns up to n dead letters queued in a tenant's outbox,
// oldest first, and their head for TrimLetters.
func (s *Outbox) Letters(ctx context.Context, tenant string, n int) ([]store.Letter, Head, error) {
	raw, head, err := s.head(ctx, keys.Outbox(tenant), n)
	if err != nil {
		return nil, Head{}, fmt.Errorf("reading outbox of %s: %w", tenant, err)
	}
	out := make([]store.Letter, len(raw))
	for i, r := range raw {
		if err := json.Unmarshal([]byte(r), &out[i]); err != nil {
			return nil, Head{}, fmt.Errorf("outbox entry of %s: %w", tenant, err)
		}
	}
	return out, head, nil
}

// TrimLetters removes the published head of a tenant's outbox, unless
// another publisher removed it first.
func (s *Outbox) TrimLetters(ctx context.Context, tenant string, h Head) error {
	if err := s.trim(ctx, keys.Outbox(tenant), h); err != nil {
		return fmt.Errorf("trimming outbox of %s: %w", tenant, err)
	}
	return nil
}

// SinkQueue returns up to n notifications (JSON) waiting for a sink, oldest
// first, and their head for TrimSinkQueue.
func (s *Outbox) SinkQueue(ctx context.Context, tenant, sink string, n int) ([]string, Head, error) {
	raw, head, err := s.head(ctx, SinkQueueKey(tenant, sink), n)
	if err != nil {
		return nil, Head{}, fmt.Errorf("reading the %s queue of %s: %w", sink, tenant, err)
	}
	return raw, head, nil
}

// TrimSinkQueue removes the delivered head of a sink queue.
func (s *Outbox) TrimSinkQueue(ctx context.Context, tenant, sink string, h Head) error {
	if err := s.trim(ctx, SinkQueueKey(tenant, sink), h); err != nil {
		return fmt.Errorf("trimming the %s queue of %s: %w", sink, tenant, err)
	}
	return nil
}

// TakeChanged removes and returns up to n tenants whose views changed
// since they were last taken.
func (s *Outbox) TakeChanged(ctx context.Context, n int) ([]string, error) {
	ts, err := s.rdb.SPopN(ctx, keys.ChangedTenants, int64(n)).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("taking the changed tenants: %w", err)
	}
	return ts, nil
}

// MarkChanged puts tenants back among the changed ones (a round that
// failed them).
func (s *Outbox) MarkChanged(ctx context.Context, tenants []string) error {
	if len(tenants) == 0 {
		return nil
	}
	if err := s.rdb.SAdd(ctx, keys.ChangedTenants, tenants).Err(); err != nil {
		return fmt.Errorf("marking tenants changed: %w", err)
	}
	return nil
}

// DigestSent returns the period of a tenant's last digest of a cadence,
// "" for none.
func (s *Outbox) DigestSent(ctx context.Context, tenant, cadence string) (string, error) {
	v, err := s.rdb.HGet(ctx, keys.Digests(tenant), cadence).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return "", fmt.Errorf("reading the digests of %s: %w", tenant, err)
	}
	return v, nil
}

// MarkDigest records a tenant's digest of a cadence and period as sent.
func (s *Outbox) MarkDigest(ctx context.Context, tenant, cadence, period string) error {
	if err := s.rdb.HSet(ctx, keys.Digests(tenant), cadence, period).Err(); err != nil {
		return fmt.Errorf("recording the digest of %s: %w", tenant, err)
	}
	return nil
}

// AlertStates returns a tenant's alert states by fingerprint, as stored.
func (s *Outbox) AlertStates(ctx context.Context, tenant string) (map[string]string, error) {
	h, err := s.rdb.HGetAll(ctx, alertsKey(tenant)).Result()
	if err != nil {
		return nil, fmt.Errorf("reading alerts of %s: %w", tenant, err)
	}
	return h, nil
}

// saveAlerts writes alert states and queues notifications for the sinks,
// fenced by the publisher's epoch. KEYS: 1 alerts, 2 fence, 3 erasures,
// then the sink queues. ARGV: 1 epoch, 2 queue cap, 3 the number of
// erasures the states were made with, nset and (fingerprint, state)
// pairs, ndel and fingerprints, then per queue n and its notifications.
// Answers -1 when fenced, -2 when customers were erased since (the states
// may quote them), else the notifications dropped over the cap.
var saveAlerts = redis.NewScript(`
local epoch = tonumber(ARGV[1])
local fence = tonumber(redis.call('GET', KEYS[2]) or '0')
if fence > epoch then return -1 end
if redis.call('HLEN', KEYS[3]) ~= tonumber(ARGV[3]) then return -2 end
if fence < epoch then redis.call('SET', KEYS[2], epoch) end
local cap = tonumber(ARGV[2])
local pos = 4
local nset = tonumber(ARGV[pos]); pos = pos + 1
for i = 1, nset do
  redis.call('HSET', KEYS[1], ARGV[pos], ARGV[pos + 1])
  pos = pos + 2
end
local ndel = tonumber(ARGV[pos]); pos = pos + 1
for i = 1, ndel do
  redis.call('HDEL', KEYS[1], ARGV[pos])
  pos = pos + 1
end
local dropped = 0
for q = 4, #KEYS do
  local n = tonumber(ARGV[pos]); pos = pos + 1
  for i = 1, n do
    redis.call('RPUSH', KEYS[q], ARGV[pos])
    pos = pos + 1
  end
  local len = redis.call('LLEN', KEYS[q])
  if len > cap then
    redis.call('LTRIM', KEYS[q], len - cap, -1)
    dropped = dropped + len - cap
  end
end
return dropped`)

// SaveAlerts writes changed alert states, forgets others and queues
// notifications (JSON) for each sink, in one step fenced by the
// publisher's epoch: ErrFenced when a newer publisher wrote, ErrErased
// when the tenant's erasures are no longer the erasures count the states
// were made with. It returns the notifications dropped from full queues.
func (s *Outbox) SaveAlerts(ctx context.Context, tenant string, epoch, erasures int64, set map[string][]byte, del []string, queue map[string][][]byte) (int64, error) {
	keys := []string{alertsKey(tenant), alertFenceKey(tenant), keys.Erased(tenant)}
	args := []any{epoch, SinkQueueCap, erasures, len(set)}
	for fp, st := range set {
		args = append(args, fp, st)
	}
	args = append(args, len(del))
	for _, fp := range del {
		args = append(args, fp)
	}
	for sink, notes := range queue {
		keys = append(keys, SinkQueueKey(tenant, sink))
		args = append(args, len(notes))
		for _, n := range notes {
			args = append(args, n)
		}
	}
	dropped, err := saveAlerts.Run(ctx, s.rdb, keys, args...).Int64()
	switch {
	case err != nil:
		return 0, fmt.Errorf("writing alerts of %s: %w", tenant, err)
	case dropped == -2:
		return 0, ErrErased
	case dropped < 0:
		return 0, ErrFenced
	}
	return dropped, nil
}

// problemsKey holds, per tenant, what keeps its outputs from being
// published or its windows from being swept.
const problemsKey = "cxpulse:problems"

// TenantProblem is why a tenant's outputs are not published or its
// windows not swept.
type TenantProblem struct {
	Stage   string `json:"stage"` // "publishing" or "sweeping"
	Problem string `json:"problem"`
	Since   int64  `json:"since"` // unix ms
}

// TenantProblems returns the recorded tenant problems by tenant and stage
// (tenant \x00 stage → problem).
func (s *Outbox) TenantProblems(ctx context.Context) (map[string]TenantProblem, error) {
	raw, err := s.rdb.HGetAll(ctx, problemsKey).Result()
	if err != nil {
		return nil, fmt.Errorf("reading tenant problems: %w", err)
	}
	out := make(map[string]TenantProblem, len(raw))
	for k, v := range raw {
		var p TenantProblem
		if err := json.Unmarshal([]byte(v), &p); err != nil {
			return nil, fmt.Errorf("tenant problem %q: %w", k, err)
		}
		out[k] = p
	}
	return out, nil
}

// ProblemField names a tenant's problem at one stage in TenantProblems.
func ProblemField(tenant, stage string) string { return tenant + "\x00" + stage }

// SetTenantProblem records a tenant's problem at one stage.
func (s *Outbox) SetTenantProblem(ctx context.Context, tenant string, p TenantProblem) error {
	b, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("encoding the problem of %s: %w", tenant, err)
	}
	if err := s.rdb.HSet(ctx, problemsKey, ProblemField(tenant, p.Stage), b).Err(); err != nil {
		return fmt.Errorf("recording the problem of %s: %w", tenant, err)
	}
	return nil
}

// ClearTenantProblem forgets a tenant's problem at one stage.
func (s *Outbox) ClearTenantProblem(ctx context.Context, tenant, stage string) error {
	if err := s.rdb.HDel(ctx, problemsKey, ProblemField(tenant, stage)).Err(); err != nil {
		return fmt.Errorf("clearing the problem of %s: %w", tenant, err)
	}
	return nil
}
