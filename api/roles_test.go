package api

import "testing"

func TestParseRoles_AcceptsAllControlDataAndLists(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		err      bool
	}{
		{in: "all", want: "all"},
		{in: "control", want: "control"},
		{in: "data", want: "data"},
		{in: "control,data", want: "all"},
		{in: " Data , control ", want: "all"},
		{in: "data,data", want: "data"},
		{in: "", err: true},
		{in: ",", err: true},
		{in: "worker", err: true},
		{in: "control,bogus", err: true},
	} {
		r, err := ParseRoles(tc.in)
		if (err != nil) != tc.err {
			t.Errorf("ParseRoles(%q) error = %v, want error %v", tc.in, err, tc.err)
			continue
		}
		if err == nil && r.String() != tc.want {
			t.Errorf("ParseRoles(%q) = %s, want %s", tc.in, r, tc.want)
		}
	}
}

func TestRoleOf_DataIsFnAndInvokeControlIsTheRestOfTheAPI(t *testing.T) {
	for path, want := range map[string]string{
		"/fn/hello":                      RoleData,
		"/fn/hello/a/b":                  RoleData,
		"/api/v1/functions/hello/invoke": RoleData,
		"/api/v1/functions/hello":        RoleControl,
		"/api/v1/functions/invoke":       RoleControl,
		"/api/v1/nodes":                  RoleControl,
		"/api/v1/events/stream":          RoleControl,
		"/healthz":                       "",
		"/readyz":                        "",
		"/metrics":                       "",
	} {
		if got := RoleOf(path); got != want {
			t.Errorf("RoleOf(%q) = %q, want %q", path, got, want)
		}
	}
}
