package api

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
)

// Node roles (picloud serve --roles).
const (
	// RoleControl serves the control-plane API (/api/v1 but invoke), the
	// dashboard (/ui) and runs the cron scheduler.
	RoleControl = "control"
	// RoleData serves /fn/* and /api/v1/functions/NAME/invoke, works
	// event deliveries and async invocations, and owns workers.
	RoleData = "data"
)

// Roles are the parts of the product a node serves. The zero value is
// both, as is "all": a single node is the whole product.
type Roles struct {
	Control, Data bool
}

// AllRoles is a node that serves everything.
var AllRoles = Roles{Control: true, Data: true}

// ParseRoles reads "all", "control", "data" or a comma list of them.
func ParseRoles(s string) (Roles, error) {
	var r Roles
	for _, p := range strings.Split(s, ",") {
		switch strings.ToLower(strings.TrimSpace(p)) {
		case "all":
			r = AllRoles
		case RoleControl:
			r.Control = true
		case RoleData:
			r.Data = true
		case "":
		default:
			return Roles{}, fmt.Errorf("unknown role %q: use all, control, data or a comma list of them", strings.TrimSpace(p))
		}
	}
	if !r.Control && !r.Data {
		return Roles{}, fmt.Errorf("no role in %q: use all, control, data or a comma list of them", s)
	}
	return r, nil
}

// orAll returns r, or AllRoles for the zero value.
func (r Roles) orAll() Roles {
	if !r.Control && !r.Data {
		return AllRoles
	}
	return r
}

// List returns the roles by name, in a fixed order.
func (r Roles) List() []string {
	r = r.orAll()
	var out []string
	if r.Control {
		out = append(out, RoleControl)
	}
	if r.Data {
		out = append(out, RoleData)
	}
	return out
}

// String is "all", "control" or "data".
func (r Roles) String() string {
	if r = r.orAll(); r.Control && r.Data {
		return "all"
	}
	return r.List()[0]
}

// invokeRouteRE is the control-plane route that runs a function on the
// node that receives it, so it belongs to the data role.
var invokeRouteRE = regexp.MustCompile(`^/api/v1/functions/[^/]+/invoke/?$`)

// RoleOf returns the role a request path needs, "" for paths every node
// serves (/healthz, /readyz, /metrics).
func RoleOf(path string) string {
	switch {
	case strings.HasPrefix(path, "/fn/"):
		return RoleData
	case invokeRouteRE.MatchString(path):
		return RoleData
	case strings.HasPrefix(path, "/api/"), path == "/ui", strings.HasPrefix(path, "/ui/"):
		return RoleControl // the API and the dashboard
	}
	return ""
}

// has reports whether r includes role ("" is always included).
func (r Roles) has(role string) bool {
	switch role {
	case RoleControl:
		return r.Control
	case RoleData:
		return r.Data
	}
	return true
}

// CodeWrongRole is the error code of a request sent to a node without the
// role it needs (421).
const CodeWrongRole = "wrong_role"

// wrongRole is the answer to a request for a role this node lacks: 421
// Misdirected Request, naming the role, so a proxy set-up error is plain.
func wrongRole(role string, r Roles) *Error {
	return errorf(http.StatusMisdirectedRequest, CodeWrongRole,
		"this node does not serve the %s role (its roles: %s): send %s requests to a %s node",
		role, strings.Join(r.List(), ","), role, role)
}
