package issuer

import (
	"time"

	"github.com/authkit-go/authkit/keys"
)

// ID returns the issuer identifier the tokens carry as iss (WithIssuer),
// for documents that name the issuer, such as RFC 8414 server metadata.
func (i *Issuer) ID() string { return i.iss }

// StoreTimeout returns the deadline every store call of the issuer has
// (authkit.WithStoreTimeout), so that an adapter calling a store of its
// own beside the issuer's (httpauth's ClientStore) bounds it the same way.
func (i *Issuer) StoreTimeout() time.Duration { return i.storeTimeout }

// Keys returns the key set the issuer signs with (authkit.WithKeys). It
// holds private keys: publish JWKS, never this set.
func (i *Issuer) Keys() *keys.Set { return i.keys }
