package bench

import (
	"encoding/json"
	"math"
	"os/exec"
	"strings"
	"time"
)

var execLookPath = exec.LookPath

func containsMsg(line, msg string) bool { return strings.Contains(line, `"msg":"`+msg+`"`) }

// logTime reads the ts field (unix seconds) of a zap JSON log line.
func logTime(line string) (time.Time, bool) {
	var l struct {
		TS float64 `json:"ts"`
	}
	if json.Unmarshal([]byte(line), &l) != nil || l.TS == 0 {
		return time.Time{}, false
	}
	sec, frac := math.Modf(l.TS)
	return time.Unix(int64(sec), int64(frac*1e9)), true
}
