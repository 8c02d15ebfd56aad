package api

import (
	"errors"
	"net/http"
	"strconv"
)

// The schedules, triggers, tokens and secrets lists page like functions:
// ?limit= (default and maximum below) and ?after=, the Next of the previous
// page. One store query per page.
const (
	defaultListPage = 100
	maxListPage     = 1000
)

// listPage reads ?limit= and ?after= of a paged list.
func listPage(r *http.Request) (limit int, after string, err error) {
	n, err := intQuery(r, "limit", defaultListPage, 1, maxListPage)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			e.Field = "limit"
		}
		return 0, "", err
	}
	return int(n), r.URL.Query().Get("after"), nil
}

// idPage is listPage for lists ordered by a numeric id: after is the id of
// the previous page's last item.
func idPage(r *http.Request) (limit int, afterID int64, err error) {
	limit, after, err := listPage(r)
	if err != nil || after == "" {
		return limit, 0, err
	}
	afterID, perr := strconv.ParseInt(after, 10, 64)
	if perr != nil || afterID < 0 {
		return 0, 0, &Error{Status: http.StatusBadRequest, Code: CodeBadRequest, Field: "after",
			Message: "query parameter after=" + strconv.Quote(truncate(after, 40)) + " is not valid: pass the next of the previous page (a non-negative integer)"}
	}
	return limit, afterID, nil
}

// idNext is the Next of a page fetched with limit+1 rows: the id of the
// page's last item when there was one more row, else "".
func idNext(got, limit int, lastID func(i int) int64) string {
	if got <= limit {
		return ""
	}
	return strconv.FormatInt(lastID(limit-1), 10)
}
