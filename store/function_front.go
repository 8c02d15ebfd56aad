package store

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/picloud/picloud/functions"
)

// Front is the HTTP front and config of a version (the front column of
// function_versions, schema/018): see functions.Spec.
type Front struct {
	CORSOrigins []string
	Rate        functions.RateLimit
	Env         map[string]string
}

// frontColumn is the JSON of the front column; every key is optional.
type frontColumn struct {
	CORSOrigins []string          `json:"cors_origins,omitempty"`
	Rate        *rateColumn       `json:"rate,omitempty"`
	Env         map[string]string `json:"env,omitempty"`
}

type rateColumn struct {
	Count int    `json:"count"`
	Per   string `json:"per"` // a Go duration: "1s", "1m0s", "1h0m0s"
	Burst int    `json:"burst"`
	PerIP bool   `json:"per_ip,omitempty"`
}

// encodeFront returns the front column of f.
func encodeFront(f Front) ([]byte, error) {
	c := frontColumn{CORSOrigins: f.CORSOrigins, Env: f.Env}
	if r := f.Rate; r.Enabled() {
		c.Rate = &rateColumn{Count: r.Count, Per: r.Per.String(), Burst: r.Burst, PerIP: r.PerIP}
	}
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encode front: %w", err)
	}
	return b, nil
}

// decodeFront reads the front column.
func decodeFront(b []byte) (Front, error) {
	var c frontColumn
	if len(b) > 0 {
		if err := json.Unmarshal(b, &c); err != nil {
			return Front{}, fmt.Errorf("decode front: %w", err)
		}
	}
	f := Front{CORSOrigins: c.CORSOrigins, Env: c.Env}
	if c.Rate != nil {
		per, err := time.ParseDuration(c.Rate.Per)
		if err != nil {
			return Front{}, fmt.Errorf("decode front: rate per %q: %w", c.Rate.Per, err)
		}
		f.Rate = functions.RateLimit{Count: c.Rate.Count, Per: per, Burst: c.Rate.Burst, PerIP: c.Rate.PerIP}
	}
	return f, nil
}
