// Package redisproc runs a private redis-server as a child process on a
// free loopback port, keeping nothing on disk. The demo and the tests use
// it so they never touch a Redis nobody named; using the server is left to
// callers.
package redisproc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Server is a running redis-server child process.
type Server struct {
	// Addr is host:port on loopback.
	Addr string
	// Dir holds the server's log file.
	Dir  string
	cmd  *exec.Cmd
	own  bool
	bin  string
	args []string
}

// Start launches bin (redis-server) on a free port with extra arguments
// appended, and waits until it answers. It retries on another port when
// the chosen one was taken meanwhile. An empty dir means a fresh temporary
// directory, removed by Stop.
func Start(bin, dir string, extra ...string) (*Server, error) {
	own := dir == ""
	if own {
		var err error
		if dir, err = os.MkdirTemp("", "cxpulse-redis-"); err != nil {
			return nil, fmt.Errorf("creating redis dir: %w", err)
		}
	}
	var last error
	for range 5 {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		var s *Server
		if s, last = launch(bin, dir, own, port, extra); last == nil {
			return s, nil
		}
	}
	return nil, fmt.Errorf("redis-server did not start (log in %s): %w", dir, last)
}

// StartAt is Start on the given port of loopback, without retrying
// elsewhere.
func StartAt(bin string, port int, extra ...string) (*Server, error) {
	dir, err := os.MkdirTemp("", "cxpulse-redis-")
	if err != nil {
		return nil, fmt.Errorf("creating redis dir: %w", err)
	}
	s, err := launch(bin, dir, true, port, extra)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("redis-server did not start on 127.0.0.1:%d (is something there?): %w", port, err)
	}
	return s, nil
}

// launch starts bin on port and waits until it answers.
func launch(bin, dir string, own bool, port int, extra []string) (*Server, error) {
	args := append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir, "--logfile", "redis-" + strconv.Itoa(port) + ".log"}, extra...)
	cmd := exec.Command(bin, args...)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Dir: dir, cmd: cmd, own: own, bin: bin, args: args}
	if err := s.wait(10 * time.Second); err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, err
	}
	return s, nil
}

// wait polls until the server answers and is this process (not another
// server that held the port).
func (s *Server) wait(limit time.Duration) error {
	c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(limit)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		info, err := c.InfoMap(ctx, "server").Result()
		cancel()
		if err == nil {
			if info["Server"]["process_id"] != strconv.Itoa(s.cmd.Process.Pid) {
				return errors.New("another server answered on the port")
			}
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Pid returns the server's process id.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// Restart kills the server and starts it again on the same port and
// directory, with what it kept on disk (when it was started to keep
// anything, e.g. with --appendonly yes).
func (s *Server) Restart() error {
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	cmd := exec.Command(s.bin, s.args...)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("restarting %s: %w", s.bin, err)
	}
	s.cmd = cmd
	return s.wait(10 * time.Second)
}

// Stop kills the server and removes its directory if Start made it.
func (s *Server) Stop() error {
	err := s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	if s.own {
		err = errors.Join(err, os.RemoveAll(s.Dir))
	}
	return err
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
