package adminapi

import "testing"

// SetMaxUsageRows lowers the rows one usage answer may hold until the test ends.
func SetMaxUsageRows(tb testing.TB, n int) {
	old := maxUsageRows
	maxUsageRows = n
	tb.Cleanup(func() { maxUsageRows = old })
}

// DeclaredPermissions returns the route permission table, by mux pattern.
func DeclaredPermissions() map[string]Permission { return permissions }
