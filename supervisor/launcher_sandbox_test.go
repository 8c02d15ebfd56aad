package supervisor

import (
	"strings"
	"testing"

	"github.com/picloud/picloud/protocol"
)

// completeReport is a worker report with every layer in place, for a
// serve running as 1000:1000.
func completeReport() *protocol.SandboxReport {
	return &protocol.SandboxReport{
		UID: [4]int{998, 998, 998, 998}, GID: [4]int{997, 997, 997, 997},
		NoNewPrivs: true, SeccompMode: 2, LandlockABI: 6, Landlock: "enforced",
		FDs: []string{"0 /dev/null", "1 pipe:[1]", "2 pipe:[2]", "3 anon_inode:[eventpoll]", "4 pipe:[3]",
			"5 socket:[4]", "6 /proc/42/statm", "7 socket:[5]", "8 /sys/fs/cgroup/cpu/cpu.cfs_quota_us",
			"9 /sys/fs/cgroup/picloud/w1/cpu.max"},
	}
}

func TestCheckSandbox_NamesEachMissingLayer(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*protocol.SandboxReport)
		want string // "" = complete
	}{
		{"complete", func(*protocol.SandboxReport) {}, ""},
		{"root", func(r *protocol.SandboxReport) { r.UID = [4]int{} }, "uid: runs as root"},
		{"serve_uid", func(r *protocol.SandboxReport) { r.UID = [4]int{1000, 1000, 1000, 1000} }, "uid: runs as serve's uid 1000"},
		{"saved_uid_root", func(r *protocol.SandboxReport) { r.UID[2] = 0 }, "ids differ"},
		{"root_group", func(r *protocol.SandboxReport) { r.GID = [4]int{} }, "gid: runs with group 0"},
		{"serve_group_supplementary", func(r *protocol.SandboxReport) { r.Groups = []int{1000} }, "groups: member of group 1000"},
		{"bounding_set", func(r *protocol.SandboxReport) { r.CapBnd = 0x1ffffffffff }, "capabilities: inh 0 prm 0 eff 0 bnd 1ffffffffff"},
		{"ambient", func(r *protocol.SandboxReport) { r.CapAmb = 1 << 8 }, "capabilities:"},
		{"no_nnp", func(r *protocol.SandboxReport) { r.NoNewPrivs = false }, "no_new_privs: not set"},
		{"no_seccomp", func(r *protocol.SandboxReport) { r.SeccompMode = 0 }, "seccomp: no filter"},
		{"no_landlock", func(r *protocol.SandboxReport) {
			r.LandlockABI, r.Landlock = 0, "landlock unavailable: function not implemented"
		}, "landlock: landlock unavailable"},
		{"inherited_file", func(r *protocol.SandboxReport) { r.FDs = append(r.FDs, "10 /var/lib/picloud/admin.token") }, "fds: 10 /var/lib/picloud/admin.token"},
		{"inherited_dir", func(r *protocol.SandboxReport) { r.FDs = append(r.FDs, "10 /") }, "fds: 10 /"},
		{"inherited_cgroup_file", func(r *protocol.SandboxReport) {
			r.FDs = append(r.FDs, "10 /sys/fs/cgroup/picloud/cgroup.procs")
		}, "fds: 10 /sys/fs/cgroup/picloud/cgroup.procs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := completeReport()
			tc.mod(rep)
			ws := checkSandbox(rep, 1000, 1000)
			if tc.want == "" {
				if !ws.Complete() {
					t.Fatalf("missing %q, want complete", ws.Missing)
				}
				return
			}
			if ws.Complete() || !strings.Contains(strings.Join(ws.Missing, "; "), tc.want) {
				t.Fatalf("missing %q, want one containing %q", ws.Missing, tc.want)
			}
		})
	}
	if ws := checkSandbox(nil, 1000, 1000); ws.Complete() {
		t.Fatal("no report: complete, want missing")
	}
}

func TestProcStatus_ParsesTheSandboxFields(t *testing.T) {
	status := "Name:\tpicloud-worker\nUid:\t998\t998\t998\t998\nGid:\t997\t997\t997\t997\nGroups:\t\n" +
		"CapInh:\t0000000000000000\nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\n" +
		"CapBnd:\t0000000000000100\nCapAmb:\t0000000000000000\nNoNewPrivs:\t1\nSeccomp:\t2\nSeccomp_filters:\t1\n"
	var rep protocol.SandboxReport
	if err := rep.ParseProcStatus([]byte(status)); err != nil {
		t.Fatal(err)
	}
	if rep.UID != [4]int{998, 998, 998, 998} || rep.GID[3] != 997 || len(rep.Groups) != 0 || rep.CapBnd != 0x100 ||
		!rep.NoNewPrivs || rep.SeccompMode != 2 || rep.SeccompFilters != 1 {
		t.Fatalf("parsed %+v", rep)
	}
	if err := rep.ParseProcStatus([]byte("Name:\tx\n")); err == nil {
		t.Fatal("a status without the fields parsed")
	}
}
