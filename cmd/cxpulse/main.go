// Command cxpulse is the operator's tool: it imports history, looks at and
// replays dead letters, rebuilds tenants' state from the logs and erases
// customers. It reads the same CXPULSE_* settings as the
// services (flags override them); `cxpulse COMMAND -h` lists a command's.
//
// Exit codes: 0 success, 1 failure, 2 partial (some rows or letters were
// rejected).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
	_ "time/tzdata"

	"github.com/redis/go-redis/v9"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailed  = 1
	exitPartial = 2
)

// command is one subcommand.
type command struct {
	name, summary string
	run           func(ctx context.Context, env *env, args []string) int
}

// env is what a command reads and writes: its streams and settings.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	// terminal reports whether stderr is a terminal (progress is redrawn
	// in place).
	terminal bool
	// now is the clock of the time rule (time.Now when nil).
	now func() time.Time
}

var commands = []command{
	{"import", "import history from CSV or NDJSON files", runImport},
	{"deadletter", "list dead letters, or replay them to their topics (deadletter list|replay)", runDeadletter},
	{"rebuild", "drop tenants' state and have the aggregators apply it again from the logs", runRebuild},
	{"erase", "erase customers from every aggregate and key, with a receipt each", runErase},
}

// quietRedis drops go-redis's own log lines (a pool retrying a dial): the
// commands report each Redis error themselves, once, with what it stops.
type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	e := &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv, terminal: isTerminal(os.Stderr), now: time.Now}
	code := run(ctx, e, os.Args[1:])
	stop()
	os.Exit(code)
}

// run runs the command of args and returns the exit code.
func run(ctx context.Context, e *env, args []string) int {
	redis.SetLogger(quietRedis{})
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(e.stderr)
		if len(args) == 0 {
			return exitFailed
		}
		return exitOK
	}
	for _, c := range commands {
		if c.name == args[0] {
			return c.run(ctx, e, args[1:])
		}
	}
	fmt.Fprintf(e.stderr, "cxpulse: %q is not a command\n\n", args[0])
	usage(e.stderr)
	return exitFailed
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: cxpulse COMMAND [flags] [args]")
	fmt.Fprintln(w, "\nCommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-11s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun cxpulse COMMAND -h for a command's flags. Settings come from flags, else CXPULSE_* variables.")
	fmt.Fprintln(w, "Exit codes: 0 success, 1 failure, 2 partial (some rows or letters rejected).")
}

// isTerminal reports whether f is a character device (a terminal).
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
