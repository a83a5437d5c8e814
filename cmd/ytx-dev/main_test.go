package main

import (
	"bytes"
	"strings"
	"testing"
)

// A bad value stops ytx-dev before it starts anything, with one line that
// names the flag (or the environment variable it came from).
func TestBadValuesNameTheFlag(t *testing.T) {
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"bad log level", []string{"--log-level", "loud"}, nil, "--log-level"},
		{"not a number", []string{"--kafka-port", "ninety"}, nil, "--kafka-port"},
		{"env not a number", nil, map[string]string{"YTX_CONCURRENCY": "lots"}, "YTX_CONCURRENCY"},
		{"argument", []string{"now"}, nil, `"now"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			var out, errOut bytes.Buffer
			if code := run(t.Context(), c.args, &out, &errOut); code == 0 {
				t.Fatalf("exit code 0, want failure; stdout %q", out.String())
			}
			msg := strings.TrimSpace(errOut.String())
			if strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "ytx-dev: ") || !strings.Contains(msg, c.want) {
				t.Errorf("error %q: want one line from ytx-dev naming %s", msg, c.want)
			}
		})
	}
}
