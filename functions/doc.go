// Package functions is PiCloud's domain at the bottom of the import graph:
// what a deployed function is (Spec and its Limits, with their ranges and
// defaults in one place), what one run of it produced (the Invocation
// record and its Status), and how a run can end (Outcome). The store, the
// supervisor, the invoker, the events service and the API all speak these
// types; none of them is needed to understand them.
package functions
