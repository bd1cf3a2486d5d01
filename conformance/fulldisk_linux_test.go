package conformance

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"golang.org/x/sys/unix"
)

// TestFullDiskNacksAndLosesNothing runs the broker as its own process and
// takes its disk away mid-stream: a file-size limit (RLIMIT_FSIZE, set on
// the running process with prlimit) makes every further log write fail
// with EFBIG, the same path as ENOSPC on a full disk, without privileges.
// Publishers must get nacks, not confirms, for what was not written; the
// broker must stay up and keep serving; and after a restart with the disk
// back, every confirmed message is there.
func TestFullDiskNacksAndLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	root := t.TempDir()
	dataDir := filepath.Join(root, "data")
	cmd, url := startProcess(t, dataDir, "--segment-size", "1048576")
	defer cmd.Process.Kill()

	conn, err := amqp.Dial(url)
	mustOK(t, err)
	ch, err := conn.Channel()
	mustOK(t, err)
	_, err = ch.QueueDeclare("full", true, false, false, false, nil)
	mustOK(t, err)
	mustOK(t, ch.Confirm(false))
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, 1))
	body := make([]byte, 1000)
	confirmed := map[string]bool{}
	publish := func(i int) bool {
		id := fmt.Sprint(i)
		err := ch.PublishWithContext(context.Background(), "", "full", false, false,
			amqp.Publishing{DeliveryMode: amqp.Persistent, MessageId: id, Body: body})
		mustOK(t, err)
		c := nextConfirm(t, confirms)
		if c.Ack {
			confirmed[id] = true
		}
		return c.Ack
	}
	for i := 0; i < 100; i++ {
		if !publish(i) {
			t.Fatalf("message %d nacked before the disk filled", i)
		}
	}

	// From now on no write reaches the disk.
	lim := unix.Rlimit{Cur: 4096, Max: 4096}
	if err := unix.Prlimit(cmd.Process.Pid, unix.RLIMIT_FSIZE, &lim, nil); err != nil {
		t.Skipf("prlimit: %v", err)
	}
	nacked := 0
	for i := 100; i < 2200 && nacked < 5; i++ {
		if !publish(i) {
			nacked++
		}
	}
	if nacked == 0 {
		t.Fatal("2,100 persistent messages confirmed with no disk to write them to")
	}
	// The broker is up, says why, and serves what needs no disk.
	if err := cmd.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("broker died on a full disk: %v", err)
	}
	conn2, err := amqp.Dial(url)
	mustOK(t, err)
	ch2, err := conn2.Channel()
	mustOK(t, err)
	q, err := ch2.QueueDeclare("", false, true, true, false, nil)
	mustOK(t, err)
	mustOK(t, ch2.PublishWithContext(context.Background(), "", q.Name, false, false, amqp.Publishing{Body: []byte("transient")}))
	d := getOne(t, ch2, q.Name, true)
	if string(d.Body) != "transient" {
		t.Fatalf("transient message over a full disk: %q", d.Body)
	}
	conn2.Close()
	conn.Close()
	logData, _ := os.ReadFile(filepath.Join(root, "sluice.log"))
	if !strings.Contains(string(logData), "file too large") {
		t.Errorf("the broker's log does not report the write failure:\n%s", logData)
	}

	// The disk comes back: every confirmed message is there.
	_ = cmd.Process.Kill()
	time.Sleep(100 * time.Millisecond)
	cmd, url = startProcess(t, dataDir, "--segment-size", "1048576")
	defer cmd.Process.Kill()
	conn, err = amqp.Dial(url)
	mustOK(t, err)
	defer conn.Close()
	ch, err = conn.Channel()
	mustOK(t, err)
	got := map[string]bool{}
	for {
		d, ok, err := ch.Get("full", true)
		mustOK(t, err)
		if !ok {
			break
		}
		got[d.MessageId] = true
	}
	for id := range confirmed {
		if !got[id] {
			t.Fatalf("confirmed message %s lost after the disk filled (%d confirmed, %d recovered)", id, len(confirmed), len(got))
		}
	}
	t.Logf("%d confirmed before the disk filled and after, %d nacked, %d recovered", len(confirmed), nacked, len(got))
}
