// Package config reads a binary's settings from command-line flags, falling
// back to CXPULSE_* environment variables, then to documented defaults.
// Every value is parsed and checked here, and a bad one yields an error that
// names the variable; what the settings mean is left to each binary.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/cxpulse/cxpulse/pkg/window"
)

// Setting describes one setting for help texts and docs.
type Setting struct {
	Env, Flag, Default, Usage string
}

type entry struct {
	Setting
	value *string
	apply func(string) error
}

// Set is the list of settings of one binary.
type Set struct {
	fs      *flag.FlagSet
	getenv  func(string) string
	entries []*entry
	// after run once every entry is applied, for checks across entries.
	after []func() error
}

// NewSet returns an empty Set for the named binary; getenv is usually
// os.Getenv.
func NewSet(name string, getenv func(string) string) *Set {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return &Set{fs: fs, getenv: getenv}
}

// FlagName returns the flag that mirrors an env var:
// CXPULSE_KAFKA_BROKERS → kafka-brokers.
func FlagName(env string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(env, "CXPULSE_")), "_", "-")
}

func (s *Set) add(env, def, usage string, apply func(string) error) {
	e := &entry{Setting: Setting{Env: env, Flag: FlagName(env), Default: def, Usage: usage}, apply: apply}
	e.value = s.fs.String(e.Flag, "", fmt.Sprintf("%s (env %s, default %q)", usage, env, def))
	s.entries = append(s.entries, e)
}

// String registers a string setting.
func (s *Set) String(p *string, env, def, usage string) {
	s.add(env, def, usage, func(v string) error { *p = v; return nil })
}

// Int registers an integer setting.
func (s *Set) Int(p *int, env string, def int, usage string) {
	s.add(env, strconv.Itoa(def), usage, func(v string) error {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("%q is not an integer", v)
		}
		*p = n
		return nil
	})
}

// Float registers a floating-point setting.
func (s *Set) Float(p *float64, env string, def float64, usage string) {
	s.add(env, strconv.FormatFloat(def, 'g', -1, 64), usage, func(v string) error {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", v)
		}
		*p = f
		return nil
	})
}

// Bool registers a boolean setting; 1/0, true/false, yes/no are accepted.
func (s *Set) Bool(p *bool, env string, def bool, usage string) {
	d := "0"
	if def {
		d = "1"
	}
	s.add(env, d, usage, func(v string) error {
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "1", "true", "yes", "on":
			*p = true
		case "0", "false", "no", "off", "":
			*p = false
		default:
			return fmt.Errorf("%q is not a boolean (use 1 or 0)", v)
		}
		return nil
	})
}

// Duration registers a duration setting; days ("7d") are accepted.
func (s *Set) Duration(p *time.Duration, env, def, usage string) {
	s.add(env, def, usage, func(v string) error {
		d, err := window.ParseDuration(v)
		if err != nil {
			return err
		}
		*p = d
		return nil
	})
}

// Secret registers a secret string setting: it is read from env (or its
// flag) or from the file named by env_FILE (or its flag), the
// Docker and Kubernetes secrets convention; a trailing newline of the file
// is dropped. Setting both is an error naming both. A secret has no
// default and is never echoed.
func (s *Set) Secret(p *string, env, usage string) {
	var direct, file string
	s.add(env, "", usage+" (or put it in a file named by "+env+"_FILE)", func(v string) error { direct = v; return nil })
	s.add(env+"_FILE", "", "file holding "+env, func(v string) error { file = v; return nil })
	s.after = append(s.after, func() error {
		switch {
		case direct != "" && file != "":
			return fmt.Errorf("%s and %s_FILE: set one of them, not both", env, env)
		case file != "":
			b, err := os.ReadFile(file)
			if err != nil {
				return fmt.Errorf("%s_FILE: %w", env, err)
			}
			*p = strings.TrimRight(string(b), "\r\n")
		default:
			*p = direct
		}
		return nil
	})
}

// List registers a comma-separated list; blanks are dropped.
func (s *Set) List(p *[]string, env, def, usage string) {
	s.add(env, def, usage, func(v string) error {
		*p = SplitList(v)
		return nil
	})
}

// SplitList splits a comma-separated list, trimming blanks.
func SplitList(v string) []string {
	var out []string
	for _, part := range strings.Split(v, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// Parse reads args, then resolves every setting from its flag, its env var
// or its default, in that order. The error joins one error per bad value,
// each naming the env var.
func (s *Set) Parse(args []string) error {
	rest, err := s.ParseArgs(args)
	if err == nil && len(rest) > 0 {
		err = fmt.Errorf("unexpected arguments: %q", rest)
	}
	return err
}

// Flags returns the flag set, for a command's own flags beside the
// settings.
func (s *Set) Flags() *flag.FlagSet { return s.fs }

// ParseArgs is Parse for a command that takes arguments besides flags: it
// returns them, in order; flags may come before, between or after them.
func (s *Set) ParseArgs(args []string) ([]string, error) {
	var rest []string
	for {
		if err := s.fs.Parse(args); err != nil {
			return nil, fmt.Errorf("parsing flags: %w", err)
		}
		args = s.fs.Args()
		if len(args) == 0 {
			break
		}
		if args[0] == "--" {
			rest = append(rest, args[1:]...)
			break
		}
		rest, args = append(rest, args[0]), args[1:]
	}
	return rest, s.resolve()
}

// resolve sets every setting from its flag, its env var or its default,
// in that order.
func (s *Set) resolve() error {
	set := map[string]bool{}
	s.fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var errs []error
	for _, e := range s.entries {
		v, from := e.Default, "default"
		switch {
		case set[e.Flag]:
			v, from = *e.value, "flag -"+e.Flag
		case s.getenv(e.Env) != "":
			v, from = s.getenv(e.Env), "environment"
		}
		if err := e.apply(v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w (from %s)", e.Env, err, from))
		}
	}
	for _, check := range s.after {
		errs = append(errs, check())
	}
	return errors.Join(errs...)
}

// Settings lists the registered settings in registration order.
func (s *Set) Settings() []Setting {
	out := make([]Setting, len(s.entries))
	for i, e := range s.entries {
		out[i] = e.Setting
	}
	return out
}

// Usage writes one line per setting: flag, env var, default and meaning.
func (s *Set) Usage(w io.Writer) {
	for _, e := range s.entries {
		fmt.Fprintf(w, "  -%s  (%s, default %q)\n      %s\n", e.Flag, e.Env, e.Default, e.Usage)
	}
}

// Common holds the settings every cxpulse service reads besides how it
// connects to Kafka (package kafkaconn) and Redis.
type Common struct {
	// TopicPrefix prefixes every topic. Default "cx.".
	TopicPrefix string
	// APIKeysFile is the YAML file of hashed API keys. Default none.
	APIKeysFile string
	// TenantsFile is the optional YAML file of tenant settings. Default none.
	TenantsFile string
	// InsecureNoAuth lets the service start without API keys. Default 0.
	InsecureNoAuth bool
	// Log is the log format: json (default) or console.
	Log string
	// Level is the least severe level logged: debug, info (default),
	// warn or error.
	Level string
	// CORSOrigins may call the HTTP API from a browser page of another
	// origin. Default none.
	CORSOrigins []string
}

// Register adds the common settings to s.
func (c *Common) Register(s *Set) {
	s.String(&c.TopicPrefix, "CXPULSE_TOPIC_PREFIX", "cx.", "prefix of every topic")
	s.String(&c.APIKeysFile, "CXPULSE_API_KEYS_FILE", "", "YAML file of SHA-256-hashed API keys per tenant")
	s.String(&c.TenantsFile, "CXPULSE_TENANTS_FILE", "", "optional YAML file of tenant settings (currency, timezone, churn, alerts)")
	s.Bool(&c.InsecureNoAuth, "CXPULSE_INSECURE_NO_AUTH", false, "serve without API keys (development only)")
	s.String(&c.Log, "CXPULSE_LOG_FORMAT", "json", "log format: json or console")
	s.String(&c.Level, "CXPULSE_LOG_LEVEL", "info", "least severe level logged: debug, info, warn or error")
	s.List(&c.CORSOrigins, "CXPULSE_CORS_ORIGINS", "", "origins whose browser pages may call the API (CORS), e.g. https://dash.example.com; empty: none")
}

// Validate checks the common settings.
func (c *Common) Validate() error {
	var errs []error
	if c.TopicPrefix == "" || strings.ContainsAny(c.TopicPrefix, " /\\,") {
		errs = append(errs, fmt.Errorf("CXPULSE_TOPIC_PREFIX: %q must be non-empty and hold no spaces, slashes or commas", c.TopicPrefix))
	}
	if c.APIKeysFile == "" && !c.InsecureNoAuth {
		errs = append(errs, errors.New("CXPULSE_API_KEYS_FILE: required unless CXPULSE_INSECURE_NO_AUTH=1"))
	}
	if c.Log != "json" && c.Log != "console" {
		errs = append(errs, fmt.Errorf("CXPULSE_LOG_FORMAT: %q is not json or console", c.Log))
	}
	if err := ValidLogLevel(c.Level); err != nil {
		errs = append(errs, err)
	}
	for _, o := range c.CORSOrigins {
		if u, err := url.Parse(o); o != "*" && (err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Path != "" || u.RawQuery != "") {
			errs = append(errs, fmt.Errorf("CXPULSE_CORS_ORIGINS: %q is not an origin (scheme://host[:port], or *)", o))
		}
	}
	return errors.Join(errs...)
}

// LogFormat returns the configured log format.
func (c *Common) LogFormat() string { return c.Log }

// LogLevel returns the least severe level logged.
func (c *Common) LogLevel() string { return c.Level }

// ValidLogLevel checks a CXPULSE_LOG_LEVEL value ("" is info).
func ValidLogLevel(level string) error {
	switch level {
	case "", "debug", "info", "warn", "error":
		return nil
	}
	return fmt.Errorf("CXPULSE_LOG_LEVEL: %q is not debug, info, warn or error", level)
}
