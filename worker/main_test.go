package worker

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/picloud/picloud/protocol/workertest"
	"go.uber.org/goleak"
)

// workerBin is the worker binary built once by TestMain.
var workerBin string

// sandboxHelperEnv makes the test binary act as a process that applies the
// process sandbox and reports what still works (see
// TestProcessSandbox_DeniesExecSocketsAndFiles).
const sandboxHelperEnv = "PICLOUD_TEST_SANDBOX_HELPER"

func TestMain(m *testing.M) {
	if dir := os.Getenv(sandboxHelperEnv); dir != "" {
		os.Exit(sandboxHelper(dir))
	}
	dir, err := os.MkdirTemp("", "picloud-worker-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	workerBin, err = workertest.Build(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(goleak.IgnoreTopFunction("github.com/hashicorp/go-plugin.(*Client).Start.func4")); err != nil {
			fmt.Fprintln(os.Stderr, "leaked goroutines:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// sandboxHelper applies the process sandbox allowing dir (or, with dir
// "seccomp-only", only the seccomp filter), then tries what the sandbox
// must deny and prints one line per attempt: "name: error" or "allowed".
func sandboxHelper(dir string) int {
	if dir == "seccomp-only" {
		if err := loadSeccomp(); err != nil {
			fmt.Println("setup:", err)
			return 1
		}
		report("exec", exec.Command("/bin/true").Run())
		_, err := net.Listen("tcp", "127.0.0.1:0")
		report("tcp_listen", err)
		return 0
	}
	res := applyProcessSandbox(dir, 0)
	fmt.Printf("summary: %s\n", res.summary)
	for _, e := range res.report.Errors {
		fmt.Printf("sandbox error: %s\n", e)
	}
	report("exec", exec.Command("/bin/true").Run())
	_, err := net.Listen("tcp", "127.0.0.1:0")
	report("tcp_listen", err)
	_, err = os.ReadFile("/etc/hostname")
	report("read_etc", err)
	err = os.WriteFile(dir+"/ok.txt", []byte("x"), 0o600)
	report("write_socket_dir", err)
	report("mknod_char_socket_dir", unix.Mknod(dir+"/null", unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
	report("mknod_fifo_socket_dir", unix.Mknod(dir+"/fifo", unix.S_IFIFO|0o600, 0))
	return 0
}

// report prints the errno of an attempt, or "allowed".
func report(name string, err error) {
	if err == nil {
		fmt.Printf("%s: allowed\n", name)
		return
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		fmt.Printf("%s: %s\n", name, errno.Error())
		return
	}
	fmt.Printf("%s: %s\n", name, err)
}
