package api

import (
	"net/http"
	"slices"

	"github.com/picloud/picloud/outbound"
)

// netGrants validates a version's outbound grants (FunctionRequest.AllowNet)
// and returns them normalised (lower-case, trimmed), sorted, without
// duplicates.
func netGrants(list []string) ([]string, error) {
	ps, err := outbound.ParsePatterns(list)
	if err != nil {
		return nil, &Error{Status: http.StatusUnprocessableEntity, Code: CodeInvalidValue, Field: "allow_net",
			Message: "allow_net: " + err.Error() + " (use host, host:port, CIDR or *.suffix)"}
	}
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		out = append(out, p.String())
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}
