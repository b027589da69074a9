// Package bench runs cxpulse's end-to-end benchmark: the same generated
// events consumed by the raw kafka-go ceiling, the decode ceiling, a naive
// hand-rolled consumer and the aggregator, plus latency, crash recovery and
// Redis memory, all against one broker process and one Redis. Interpreting
// the numbers is left to docs/performance.md.
package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Topics the broker serves.
var (
	InputTopics  = []string{"cx.surveys", "cx.tickets", "cx.purchases"}
	OutputTopics = []string{"cx.scores", "cx.alerts", "cx.deadletter"}
)

// ServeBroker runs kfake on port until stdin closes: the benchmark starts
// it as a process of its own so the broker does not share the measured
// processes' CPU accounting.
func ServeBroker(port, partitions int) error {
	c, err := kfake.NewCluster(kfake.Ports(port), kfake.SeedTopics(int32(partitions), InputTopics...),
		kfake.SeedTopics(3, OutputTopics...))
	if err != nil {
		return err
	}
	defer c.Close()
	_, _ = io.Copy(io.Discard, os.Stdin)
	return nil
}

// startBroker re-executes this binary as the broker process.
func startBroker(partitions int) (addr string, pid int, stop func(), err error) {
	port, err := freePort()
	if err != nil {
		return "", 0, nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return "", 0, nil, err
	}
	cmd := exec.Command(self, "-serve-broker", strconv.Itoa(port), "-partitions", strconv.Itoa(partitions))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return "", 0, nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return "", 0, nil, err
	}
	addr = "127.0.0.1:" + strconv.Itoa(port)
	stop = func() { _ = stdin.Close(); _ = cmd.Wait() }
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			_ = c.Close()
			return addr, cmd.Process.Pid, stop, nil
		}
		if time.Now().After(deadline) {
			stop()
			return "", 0, nil, fmt.Errorf("broker did not listen on %s", addr)
		}
	}
}

// processCPU returns the CPU time (user and system, in seconds) process
// pid has used, from /proc; 0 when it cannot be read.
func processCPU(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses and may hold
	// spaces: utime and stime are the 12th and 13th of them.
	rest := string(b)
	if i := strings.LastIndexByte(rest, ')'); i >= 0 {
		rest = rest[i+1:]
	}
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	s, _ := strconv.ParseFloat(f[12], 64)
	return (u + s) / clockTicks
}

// clockTicks is the unit of /proc CPU times (USER_HZ), 100 on Linux.
const clockTicks = 100

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// buildAggregator compiles cmd/aggregator into dir.
func buildAggregator(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "aggregator")
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/cxpulse/cxpulse/cmd/aggregator").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("building the aggregator: %v: %s", err, out)
	}
	return bin, nil
}

// aggregatorProcess is the aggregator binary running as a child.
type aggregatorProcess struct {
	cmd     *exec.Cmd
	base    string
	log     string
	started time.Time
}

func startAggregator(bin, dir, name string, env []string) (*aggregatorProcess, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), append(env, fmt.Sprintf("CXPULSE_HTTP_ADDR=127.0.0.1:%d", port))...)
	cmd.Stdout, cmd.Stderr = f, f
	p := &aggregatorProcess{cmd: cmd, base: fmt.Sprintf("http://127.0.0.1:%d", port), log: logPath, started: time.Now()}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *aggregatorProcess) kill() {
	if p.cmd.ProcessState == nil {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
	}
}

// firstLog returns the time of the first log line containing msg.
func (p *aggregatorProcess) firstLog(msg string) (time.Time, bool) {
	f, err := os.Open(p.log)
	if err != nil {
		return time.Time{}, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !containsMsg(line, msg) {
			continue
		}
		if ts, ok := logTime(line); ok {
			return ts, true
		}
	}
	return time.Time{}, false
}
