package store

import (
	"context"
	"time"

	"github.com/cxpulse/cxpulse/internal/store/views"
)

// WriteViews exposes to the tests the view writing that Apply and Sweep
// do after their scripts.
func (s *Store) WriteViews(ctx context.Context, tenant string, now time.Time, views []views.Totals) error {
	return s.Writer.Write(ctx, tenant, now, views)
}

// ApplyScript exposes to the tests the apply script alone: the state a
// crash between the script and the view write leaves.
func (s *Store) ApplyScript(ctx context.Context, sl *Slice) (Result, error) {
	return s.applyScript(ctx, sl)
}

// LuaConstants is the constants header every script starts with.
func LuaConstants() string { return luaConstants() }
