package httpauth

import (
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/internal/storecall"
)

// boundClients returns the ClientStore the Handler calls in place of cs
// (WithClientStore): every call gets the store deadline timeout (the
// issuer's, issuer.Issuer.StoreTimeout), and the Handler returns at that
// deadline with an error matching authkit.ErrStoreUnavailable (a 503) even
// when the store's driver ignores its context, as the issuer's own stores
// do. The result implements authkit.ClientAssertionStore exactly when cs
// does, so that private_key_jwt stays refused with a store that cannot
// record assertions. A store answered in process (the memory store) and a
// nil cs are returned as they are.
//
// The deadline has its own budget of abandoned calls
// (storecall.MaxAbandoned), apart from the issuer's: a stalled client
// store cannot exhaust the budget that logins and refreshes rely on.
func boundClients(cs authkit.ClientStore, timeout time.Duration) authkit.ClientStore {
	if cs == nil {
		return nil
	}
	if timeout <= 0 {
		timeout = authkit.DefaultStoreTimeout
	}
	return storecall.BoundClients(cs, storecall.New(timeout))
}
