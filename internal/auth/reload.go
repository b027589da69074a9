package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// CheckInterval is how often Watch looks at the keys file.
const CheckInterval = 2 * time.Second

// Reload reads the keys file again and puts it in force; a file that does
// not load is refused with the reason, and the keys in force stay.
// Requests keep being served throughout, except those in progress under a
// key the new file removes or narrows: their context ends (ErrKeyRevoked),
// which ends a live stream.
func (a *Authenticator) Reload(path string) error {
	keys, err := Load(path)
	if err != nil {
		a.reloads.WithLabelValues("error").Inc()
		a.fileOK.Set(0)
		return fmt.Errorf("refusing the new API keys file (the keys in force stay): %w", err)
	}
	a.keys.Store(keys)
	a.held.recheck(keys)
	a.reloads.WithLabelValues("ok").Inc()
	a.loaded.Set(float64(keys.Len()))
	a.fileOK.Set(1)
	return nil
}

// Watch reloads the keys file at path on SIGHUP and whenever its content
// changes (checked every interval, which also follows the symbolic-link
// swap of a Kubernetes secret), until ctx is done. A refused version is
// said once, not on every check.
func (a *Authenticator) Watch(ctx context.Context, path string, every time.Duration, log *zap.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	t := time.NewTicker(every)
	defer t.Stop()
	var refused string // the reason the file on disk was last refused
	for {
		trigger := "SIGHUP"
		select {
		case <-ctx.Done():
			return
		case <-hup:
		case <-t.C:
			trigger = "the file changed"
			b, err := os.ReadFile(path)
			if err == nil && a.keys.Load() != nil && sha256.Sum256(b) == a.keys.Load().sum {
				continue
			}
			if refused != "" && (err != nil && strings.Contains(refused, err.Error()) || err == nil && refused == sumText(b)) {
				continue
			}
		}
		if err := a.Reload(path); err != nil {
			if b, rerr := os.ReadFile(path); rerr == nil {
				refused = sumText(b)
			} else {
				refused = err.Error()
			}
			log.Error("API keys not reloaded", zap.String("trigger", trigger), zap.Error(err))
			continue
		}
		refused = ""
		log.Info("API keys reloaded", zap.String("trigger", trigger), zap.Int("keys", a.keys.Load().Len()))
	}
}

func sumText(b []byte) string {
	d := sha256.Sum256(b)
	return hex.EncodeToString(d[:])
}
