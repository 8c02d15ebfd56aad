package supervisor

import (
	"os/exec"
	"runtime"
	"syscall"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
)

// spawner forks every worker from one OS thread that lives as long as the
// supervisor. Two reasons:
//
//   - Pdeathsig is delivered when the thread that forked the child exits,
//     not the process: forking from Go's thread pool would kill a worker
//     whenever the runtime retires that thread. The spawner's goroutine
//     stays locked to its thread and never unlocks, so the thread lives
//     until Stop (and dies with the supervisor, taking the workers along).
//   - cgroup v1 membership is per thread and a child starts in the cgroups
//     of the thread that forked it: the spawner thread steps into the
//     worker's cgroups, forks, and steps back, so the worker is inside its
//     limits from its first instruction (no window before the Lua runs,
//     and its runtime's memory is charged to it). cgroup v2 needs no such
//     step: clone3 puts the child into its cgroup (UseCgroupFD). Where a
//     seccomp filter denies clone3 (systemd's RestrictNamespaces=), the
//     child is moved into its cgroup right after the fork and exec, before
//     the supervisor hands it a function.
type spawner struct {
	log  hclog.Logger
	reqs chan spawnReq
	done chan struct{}
}

type spawnReq struct {
	cmd *exec.Cmd
	cg  *workerCgroup
	res chan error
}

func newSpawner(log hclog.Logger) *spawner {
	sp := &spawner{log: log, reqs: make(chan spawnReq), done: make(chan struct{})}
	go sp.run()
	return sp
}

func (sp *spawner) run() {
	runtime.LockOSThread() // never unlocked: the thread exits with this goroutine
	defer close(sp.done)
	tid := unix.Gettid()
	for req := range sp.reqs {
		req.res <- sp.spawn(tid, req)
	}
}

func (sp *spawner) spawn(tid int, req spawnReq) error {
	if req.cg != nil && req.cg.version == 1 {
		if err := req.cg.enterThread(tid); err != nil {
			return err
		}
		defer func() {
			if err := req.cg.leaveThread(tid); err != nil {
				sp.log.Error("spawner thread stuck in a worker cgroup", "error", err)
			}
		}()
	}
	if err := req.cmd.Start(); err != nil {
		return err
	}
	if req.cg != nil && req.cg.version == 2 && !req.cg.cloneInto {
		if err := req.cg.adopt(req.cmd.Process.Pid); err != nil {
			_ = req.cmd.Process.Kill()
			_ = req.cmd.Wait()
			return err
		}
	}
	return nil
}

// start forks and execs cmd on the spawner thread.
func (sp *spawner) start(cmd *exec.Cmd, cg *workerCgroup) error {
	res := make(chan error, 1)
	sp.reqs <- spawnReq{cmd: cmd, cg: cg, res: res}
	return <-res
}

// close ends the spawner thread; call it once no worker is left.
func (sp *spawner) close() {
	close(sp.reqs)
	<-sp.done
}

// workerSysProcAttr: SIGKILL when the spawner thread (the supervisor) dies,
// an own process group (a Ctrl-C at the terminal goes to the supervisor,
// which stops its workers itself), and for cgroup v2 the cgroup to start in.
func workerSysProcAttr(cg *workerCgroup) *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if cg != nil && cg.version == 2 && cg.fd >= 0 && cg.cloneInto {
		attr.UseCgroupFD = true
		attr.CgroupFD = cg.fd
	}
	return attr
}
