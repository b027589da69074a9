package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/cxpulse/cxpulse/internal/config"
)

// commandFlags is a command's flags: its own, then the CXPULSE_* settings
// it reads.
type commandFlags struct {
	name, usage string
	set         *config.Set
	own         []string // names of the command's own flags, in order
}

func newFlags(e *env, name, usage string) *commandFlags {
	return &commandFlags{name: name, usage: usage, set: config.NewSet("cxpulse "+name, e.getenv)}
}

func (c *commandFlags) fs() *flag.FlagSet { return c.set.Flags() }

func (c *commandFlags) str(p *string, name, def, usage string) {
	c.fs().StringVar(p, name, def, usage)
	c.own = append(c.own, name)
}

func (c *commandFlags) boolean(p *bool, name, usage string) {
	c.fs().BoolVar(p, name, false, usage)
	c.own = append(c.own, name)
}

func (c *commandFlags) list(p *[]string, name, usage string) {
	c.fs().Func(name, usage, func(v string) error { *p = append(*p, v); return nil })
	c.own = append(c.own, name)
}

// parse reads args; it returns the arguments besides flags, or an exit
// code when the command should stop (help asked for, or bad flags).
func (c *commandFlags) parse(e *env, args []string) ([]string, int, bool) {
	rest, err := c.set.ParseArgs(args)
	if errors.Is(err, flag.ErrHelp) {
		c.help(e.stderr)
		return nil, exitOK, false
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "cxpulse %s: %v\n(cxpulse %s -h lists the flags)\n", c.name, err, c.name)
		return nil, exitFailed, false
	}
	return rest, 0, true
}

func (c *commandFlags) help(w io.Writer) {
	fmt.Fprintf(w, "Usage: cxpulse %s\n\nFlags:\n", c.usage)
	for _, name := range c.own {
		f := c.fs().Lookup(name)
		def := ""
		if f.DefValue != "" && f.DefValue != "false" {
			def = fmt.Sprintf(" (default %q)", f.DefValue)
		}
		fmt.Fprintf(w, "  --%s%s\n      %s\n", name, def, strings.ReplaceAll(f.Usage, "\n", "\n      "))
	}
	fmt.Fprintln(w, "\nSettings (flags override the environment variables):")
	c.set.Usage(w)
	fmt.Fprintln(w, "\nExit codes: 0 success, 1 failure, 2 partial (some rows or letters rejected).")
}
