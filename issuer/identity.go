package issuer

// ID returns the issuer identifier the tokens carry as iss (WithIssuer),
// for documents that name the issuer, such as RFC 8414 server metadata.
func (i *Issuer) ID() string { return i.iss }
