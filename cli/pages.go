package cli

import (
	"context"
	"net/http"
	"net/url"
)

// allPages GETs every page of a paged list at path (limit 1000, following
// each page's next as after=) and returns every item in order. q holds the
// list's other query parameters; page splits one answer into its items and
// its next.
func allPages[L any, T any](ctx context.Context, c *Client, path string, q url.Values, page func(*L) ([]T, string)) ([]T, error) {
	return followPages(ctx, c, path, q, "after", page)
}

// followPages is allPages for a list whose cursor parameter is named
// cursorParam (the blob listing's is cursor=).
func followPages[L any, T any](ctx context.Context, c *Client, path string, q url.Values, cursorParam string, page func(*L) ([]T, string)) ([]T, error) {
	if q == nil {
		q = url.Values{}
	}
	q.Set("limit", "1000")
	var all []T
	for {
		var l L
		if err := c.do(ctx, http.MethodGet, path+"?"+q.Encode(), nil, &l); err != nil {
			return nil, err
		}
		items, next := page(&l)
		all = append(all, items...)
		if next == "" {
			return all, nil
		}
		q.Set(cursorParam, next)
	}
}
