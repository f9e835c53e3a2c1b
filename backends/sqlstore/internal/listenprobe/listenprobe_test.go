package listenprobe

import (
	"strings"
	"testing"

	"github.com/authkit-go/authkit/internal/redact"
)

// A log that redacts errors shows NotDelivered's advice (found by review:
// serve logged "*errors.errorString (message withheld)" behind PgBouncer).
func TestNotDeliveredSurvivesRedaction(t *testing.T) {
	got := redact.Describe(NotDelivered("pgxlisten", "use Dedicated"))
	if !strings.Contains(got, "transaction-pooling proxy") || !strings.Contains(got, "use Dedicated") {
		t.Errorf("redact.Describe(NotDelivered) = %q", got)
	}
}
