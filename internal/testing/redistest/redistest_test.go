package redistest_test

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/streamgate/streamgate/internal/testing/redistest"
)

func TestStart(t *testing.T) {
	srv := redistest.Start(t)
	c, err := net.DialTimeout("tcp", srv.Addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("CONFIG GET save\r\n")); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	var lines []string
	for range 5 {
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, strings.TrimSpace(l))
	}
	// *2, $4, save, $0, "" : persistence is off.
	if lines[2] != "save" || lines[3] != "$0" {
		t.Errorf("CONFIG GET save = %q, want save = \"\"", lines)
	}
	if !strings.HasPrefix(srv.URL(), "redis://127.0.0.1:") {
		t.Errorf("URL = %q", srv.URL())
	}
}
